"""`llmgym label`: rank samples of a policy in a local web page (see `llmgym.rlhf.label_server`).

Everything a user can get wrong is refused before the queue is drawn or the server binds: the
numbers, `--out` (a folder, or a file that holds no rankings), and a queue file next to it that is
not one `llmgym label` wrote.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from llmgym.errors import LLMGymError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="rlhf", help="env NAME[:k=v,...] whose train prompts are shown")
    parser.add_argument("--policy", default="smollm2", help="policy that writes the samples ('simulated': "
                                                            "the simulated writer, no model)")
    parser.add_argument("--out", required=True, help="rankings JSONL file (appended; a restart continues)")
    parser.add_argument("--prompts", type=int, default=20, help="prompts in the queue")
    parser.add_argument("--k", type=int, default=5, help="samples per prompt")
    parser.add_argument("--ranker", default=None, help="who ranks (default human:$USER)")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)


def check_queue(path: Path) -> None:
    """A queue file `llmgym label` wrote (atomically, so no line of it is torn): JSON items with an
    id, a prompt and at least two completions; anything else is one error naming file and line."""
    from llmgym.io import json_problem, parse_json

    from . import rankings as rk

    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = parse_json(line, where)
        except ValueError as exc:
            raise LLMGymError(f"{where}: {json_problem(exc)}; delete the queue file to draw new samples") from None
        try:
            if not isinstance(item, dict) or not isinstance(item.get("item"), str):
                raise LLMGymError("a queue item must be a JSON object with an item id")
            rk.validate({"prompt": item.get("prompt"), "completions": item.get("completions"), "ranking": None,
                         "skipped": True, "ranker": "queue", "time": "", "task": item.get("task")})
        except LLMGymError as exc:
            raise LLMGymError(f"{where}: {exc}; delete the queue file to draw new samples") from None


def run(args: argparse.Namespace) -> int:
    from llmgym.io import check_out_file
    from llmgym.report.bench_command import sampling_params

    from .label_server import make_server, open_session, queue_path
    from .rm_command import check_rankings_out

    if args.prompts < 1:
        raise LLMGymError(f"--prompts must be positive, got {args.prompts}")
    if args.k < 2:
        raise LLMGymError(f"--k must be at least 2 (a ranking orders samples), got {args.k}")
    if not 0 <= args.port <= 65535:
        raise LLMGymError(f"--port must be in 0..65535 (0: any free port), got {args.port}")
    params = sampling_params(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    out = check_out_file(args.out)
    check_rankings_out(out)
    if queue_path(out).is_file():
        check_queue(queue_path(out))
    session = open_session(args.out, args.env, args.policy, args.prompts, args.k, seed=args.seed,
                           ranker=args.ranker or f"human:{getpass.getuser()}", params=params)
    try:
        server = make_server(session, args.port)
    except OSError as exc:
        raise LLMGymError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; try --port 0") from None
    state = session.state()
    print(f"{state['done']} / {state['total']} done; open http://127.0.0.1:{server.server_address[1]}/ "
          f"(Ctrl+C stops; rankings go to {args.out})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
