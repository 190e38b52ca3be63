"""`llmgym label`: rank samples of a policy in a local web page (see `llmgym.rlhf.label_server`)."""

from __future__ import annotations

import argparse
import getpass

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


def run(args: argparse.Namespace) -> int:
    from llmgym.types import SamplingParams

    from .label_server import make_server, open_session

    if args.prompts < 1:
        raise LLMGymError(f"--prompts must be positive, got {args.prompts}")
    params = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
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
