"""`llmgym serve`: registered envs as an HTTP service, for trainers that run on many machines.

    llmgym serve --env math --env code --port 8000        # 127.0.0.1 only, unless --host and a token

Endpoints (see docs/scale-out.md for the request and response bodies):

- `GET  /v1/envs`                          served envs: version, levels, reward components and weights
- `POST /v1/tasks`                         draw tasks from a split (`env`, `split`, `n`, `seed`, `level`)
- `POST /v1/score`                         score completions for tasks (by full task JSON or task id),
                                           every component and reason
- `POST /v1/sessions`, `.../{id}/step`,    multi-turn episodes (tool envs) with a time-to-live and a cap
  `DELETE .../{id}`
- `POST /get_reward`                       OpenRLHF's remote reward protocol (`--reward.remote_url`)
- `/openenv/{env}/ws`, `/schema`, ...      OpenEnv's protocol (`openenv.core.GenericEnvClient`)
- `GET  /v1/health`                        liveness and requests in flight (no token needed)

Scoring is stateless and idempotent: any replica answers any scoring request, so replicas scale
behind any load balancer. Each process owns one sandbox pool, shared by every request that runs code.

Nothing here imports FastAPI until a server is built, so `llmgym --help` stays light.
"""
