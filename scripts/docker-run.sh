#!/usr/bin/env bash
# Builds the sProx image and runs it with the local configuration mounted read-only.
#
#   ./scripts/docker-run.sh                                   # serve config/routes.yaml
#   ./scripts/docker-run.sh --config /config/routes.yaml      # arguments go to `sprox`
#   IMAGE_NAME=registry.example.com/sprox:dev ./scripts/docker-run.sh validate
#
# Environment: IMAGE_NAME (default sprox:local), CONFIG_DIR (default ./config),
# ENV_FILE (default ./.env, mounted at /app/.env when it exists), PORT (default 8080),
# DOCKER (default docker; podman works too).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_NAME="${IMAGE_NAME:-sprox:local}"
CONFIG_DIR="${CONFIG_DIR:-$(pwd)/config}"
ENV_FILE="${ENV_FILE:-$(pwd)/.env}"
PORT="${PORT:-8080}"
DOCKER="${DOCKER:-docker}"

if ! command -v "$DOCKER" >/dev/null 2>&1; then
  echo "docker-run.sh: '$DOCKER' is not installed (set DOCKER=podman to use podman)" >&2
  exit 1
fi
if [ ! -f "$CONFIG_DIR/routes.yaml" ]; then
  echo "docker-run.sh: $CONFIG_DIR/routes.yaml not found (set CONFIG_DIR)" >&2
  exit 1
fi

"$DOCKER" build -t "$IMAGE_NAME" .

run_args=(
  --rm
  -p "$PORT:8080"
  # Certificate rotation hands queued connections to the new socket (docs/routing.md).
  --sysctl net.ipv4.tcp_migrate_req=1
  --mount "type=bind,src=$(cd "$CONFIG_DIR" && pwd),dst=/config,readonly"
)
if [ -f "$ENV_FILE" ]; then
  run_args+=(--mount "type=bind,src=$(cd "$(dirname "$ENV_FILE")" && pwd)/$(basename "$ENV_FILE"),dst=/app/.env,readonly")
fi
if [ -t 0 ] && [ -t 1 ]; then
  run_args+=(-it)
fi

exec "$DOCKER" run "${run_args[@]}" "$IMAGE_NAME" "$@"
