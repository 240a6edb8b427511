#!/bin/bash
# blox-edge on the baked AMI (ami/): user-data that only writes the configuration and starts the
# agent. The AMI already has Node.js, the agent bundle, the systemd unit and the installer this
# hands over to (/opt/blox-edge/install.sh --configure, which documents every setting).
# Settings: edit the values below, or set them in the environment (the environment wins).
export BLOX_CLUSTER="${BLOX_CLUSTER:-}"           # ECS cluster name (required)
export BLOX_TABLE="${BLOX_TABLE:-blox-edge}"      # DynamoDB table of the contract
export BLOX_REGION="${BLOX_REGION:-}"             # AWS region (empty: the agent asks IMDS)
export BLOX_LOG_LEVEL="${BLOX_LOG_LEVEL:-}"       # pino level (empty: the agent's default)
set -euo pipefail
exec "${ROOT:-}/opt/blox-edge/install.sh" --configure "$@"
