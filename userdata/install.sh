#!/bin/bash
# blox-edge installer: user-data of a stock ECS-optimized AL2023 instance, the Packer bake and the
# configuration of a baked AMI. Modes (docs/deploying.md):
#   (default)    ecs.config, Node.js (dnf), the bundle (SHA-256 checked), the unit, agent.json; start
#   --bake       Node.js, bundle, unit, this script as /opt/blox-edge/install.sh; no config, no start
#   --configure  ecs.config and agent.json only, then start (a baked AMI's user-data)
#   --upgrade    bundle (and Node.js, unit, this script: run the new release's copy); restart the
#                agent if anything changed (daemons keep running)
# Idempotent: a second run writes nothing. Settings: the lines below or the environment (wins).
BLOX_CLUSTER="${BLOX_CLUSTER:-}"                  # ECS cluster name (for install and --configure)
BLOX_BUNDLE_URL="${BLOX_BUNDLE_URL:-}"            # https://, s3:// or file:// URL of agent.js
BLOX_BUNDLE_SHA256="${BLOX_BUNDLE_SHA256:-}"      # hex SHA-256 of agent.js (required with the URL)
BLOX_TABLE="${BLOX_TABLE:-blox-edge}"             # DynamoDB table of the contract
BLOX_REGION="${BLOX_REGION:-}"                    # AWS region (empty: the agent asks IMDS)
BLOX_LOG_LEVEL="${BLOX_LOG_LEVEL:-}"              # pino level (empty: the agent's default)
BLOX_AGENT_CONFIG_EXTRA="${BLOX_AGENT_CONFIG_EXTRA:-}" # more agent.json members: "key":value,...
BLOX_ECS_ATTRIBUTES_EXTRA="${BLOX_ECS_ATTRIBUTES_EXTRA:-}" # more instance attributes: "name":"value",...
BLOX_NODE_MAJOR="${BLOX_NODE_MAJOR:-}"            # Node.js major (dnf nodejsNN; default 22, --upgrade keeps the installed one)
BLOX_NODE_BIN="${BLOX_NODE_BIN:-}"                # node executable (default /usr/bin/node-NN)
BLOX_SKIP_NODE_INSTALL="${BLOX_SKIP_NODE_INSTALL:-}" # 1: do not run dnf (node is already there)
BLOX_SKIP_SYSTEMD="${BLOX_SKIP_SYSTEMD:-}"        # 1: do not run systemctl (tests, chroots)
ROOT="${ROOT:-}"                                  # install under this directory (tests); paths inside files stay absolute
# --- end of settings ---
set -euo pipefail
umask 022

# The daemons-first attribute: registered as "pending"; the agent sets it to "ready" once every
# critical daemon on the instance is RUNNING (and HEALTHY where it has a health check), so that
# services can wait with memberOf(attribute:blox-edge.daemons == ready). See docs/deploying.md.
DAEMONS_ATTRIBUTE='"blox-edge.daemons":"pending"'
UNIT_NAME=blox-edge-agent.service
changed=0

log() { printf 'blox-edge-install: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mode=install
for arg in "$@"; do
  case "$arg" in
    --bake) mode=bake ;;
    --configure) mode=configure ;;
    --upgrade) mode=upgrade ;;
    --no-systemctl) BLOX_SKIP_SYSTEMD=1 ;;
    --skip-node-install) BLOX_SKIP_NODE_INSTALL=1 ;;
    *) die "unknown argument: $arg (expected --bake, --configure, --upgrade, --no-systemctl, --skip-node-install)" ;;
  esac
done

if [ -z "$BLOX_NODE_MAJOR" ] && [ "$mode" = upgrade ] && [[ "$(readlink "${ROOT}/opt/blox-edge/bin/node" 2>/dev/null || true)" =~ node-([0-9]+)$ ]]; then
  BLOX_NODE_MAJOR="${BASH_REMATCH[1]}"
fi
BLOX_NODE_MAJOR="${BLOX_NODE_MAJOR:-22}"
[ -n "$BLOX_NODE_BIN" ] || BLOX_NODE_BIN="/usr/bin/node-${BLOX_NODE_MAJOR}"

validate() {
  if [ "$mode" = install ] || [ "$mode" = configure ]; then
    [[ "$BLOX_CLUSTER" =~ ^[A-Za-z0-9_-]{1,255}$ ]] || die "BLOX_CLUSTER must be an ECS cluster name, got '${BLOX_CLUSTER}'"
    [[ "$BLOX_TABLE" =~ ^[A-Za-z0-9_.-]{3,255}$ ]] || die "BLOX_TABLE is not a DynamoDB table name: '${BLOX_TABLE}'"
    [ -z "$BLOX_REGION" ] || [[ "$BLOX_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "BLOX_REGION is not a region: '${BLOX_REGION}'"
    [ -z "$BLOX_LOG_LEVEL" ] || [[ "$BLOX_LOG_LEVEL" =~ ^(fatal|error|warn|info|debug|trace|silent)$ ]] || die "BLOX_LOG_LEVEL is not a level: '${BLOX_LOG_LEVEL}'"
  fi
  if [ "$mode" != configure ]; then
    [ -n "$BLOX_BUNDLE_URL" ] || die "BLOX_BUNDLE_URL is required"
    BLOX_BUNDLE_SHA256="$(printf '%s' "$BLOX_BUNDLE_SHA256" | tr 'A-F' 'a-f')"
    [[ "$BLOX_BUNDLE_SHA256" =~ ^[0-9a-f]{64}$ ]] || die "BLOX_BUNDLE_SHA256 must be 64 hex digits"
    if ! [[ "$BLOX_NODE_MAJOR" =~ ^[0-9]+$ ]] || [ "$BLOX_NODE_MAJOR" -lt 22 ]; then
      die "BLOX_NODE_MAJOR must be 22 or newer (Node.js 20 is past its end of life)"
    fi
  fi
}

# install_file SOURCE DEST MODE: replaces DEST atomically when its content differs.
install_file() {
  local src="$1" dest="$2" mode="$3"
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    chmod "$mode" "$dest"
    rm -f "$src"
    return 0
  fi
  chmod "$mode" "$src"
  mv -f "$src" "$dest"
  changed=1
  log "wrote ${dest#"$ROOT"}"
}

# write_file DEST MODE < CONTENT
write_file() {
  local dest="$1" tmp
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp "${dest}.XXXXXX")"
  cat >"$tmp"
  install_file "$tmp" "$dest" "$2"
}

fetch() {
  local url="$1" out="$2"
  case "$url" in
    s3://*)
      if ! command -v aws >/dev/null 2>&1; then
        command -v dnf >/dev/null 2>&1 || die "s3:// URLs need the AWS CLI; use an https:// URL here"
        dnf install -y -q awscli-2
      fi
      aws s3 cp --only-show-errors "$url" "$out"
      ;;
    https://* | file://*) curl --fail --silent --show-error --location --proto '=https,file' --proto-redir '=https' --retry 5 --retry-delay 2 --retry-connrefused -o "$out" "$url" ;;
    *) die "unsupported bundle URL (https://, s3:// or file://): $url" ;;
  esac
}

install_node() {
  if [ "$BLOX_SKIP_NODE_INSTALL" = 1 ]; then
    log "skipping the Node.js installation (BLOX_SKIP_NODE_INSTALL=1)"
  elif ! rpm -q "nodejs${BLOX_NODE_MAJOR}" >/dev/null 2>&1; then
    dnf install -y -q "nodejs${BLOX_NODE_MAJOR}"
  fi
  if [ -z "$ROOT" ]; then
    [ -x "$BLOX_NODE_BIN" ] || die "$BLOX_NODE_BIN is missing after the Node.js installation"
  fi
  mkdir -p "${ROOT}/opt/blox-edge/bin"
  if [ "$(readlink "${ROOT}/opt/blox-edge/bin/node" 2>/dev/null || true)" != "$BLOX_NODE_BIN" ]; then
    ln -sfn "$BLOX_NODE_BIN" "${ROOT}/opt/blox-edge/bin/node"
    changed=1
    log "linked /opt/blox-edge/bin/node -> $BLOX_NODE_BIN"
  fi
}

install_bundle() {
  local dest="${ROOT}/opt/blox-edge/agent.js" tmp actual
  mkdir -p "${ROOT}/opt/blox-edge"
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$BLOX_BUNDLE_SHA256" ]; then
    log "agent bundle already installed (sha256 $BLOX_BUNDLE_SHA256)"
    return 0
  fi
  tmp="$(mktemp "${dest}.XXXXXX")"
  fetch "$BLOX_BUNDLE_URL" "$tmp" || { rm -f "$tmp"; die "could not download $BLOX_BUNDLE_URL"; }
  actual="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [ "$actual" != "$BLOX_BUNDLE_SHA256" ]; then
    rm -f "$tmp"
    die "SHA-256 mismatch for $BLOX_BUNDLE_URL: expected $BLOX_BUNDLE_SHA256, got $actual"
  fi
  # The source map is optional (better stack traces); a stale one is removed rather than kept.
  if fetch "${BLOX_BUNDLE_URL}.map" "${dest}.map.tmp" 2>/dev/null; then
    mv -f "${dest}.map.tmp" "${dest}.map"
  else
    rm -f "${dest}.map.tmp" "${dest}.map"
  fi
  install_file "$tmp" "$dest" 0644
}

install_unit() {
  write_file "${ROOT}/etc/systemd/system/${UNIT_NAME}" 0644 <<'UNIT'
# blox-edge agent: starts this container instance's own daemon tasks through ECS StartTask.
# Installed by userdata/install.sh (user-data on a stock ECS-optimized AMI, or the Packer bake).
# The installer carries a byte-identical copy of this file; a test keeps the two in sync.
[Unit]
Description=blox-edge agent (ECS daemon scheduler for this instance)
# The agent reads the ECS agent's introspection API and the Docker socket, so it starts after
# both. Wants= (not Requires=): restarting or updating the ECS agent must not stop this agent.
# On the ECS-optimized AMI ecs.service is ordered after cloud-final, so the user-data that writes
# /etc/ecs/ecs.config and /etc/blox-edge/agent.json always runs before this unit starts.
After=network-online.target docker.service ecs.service
Wants=network-online.target ecs.service
# Not configured yet (a baked AMI booted without the configure user-data): stay inactive.
ConditionPathExists=/etc/blox-edge/agent.json

[Service]
Type=exec
# node-NN of the distribution's namespaced Node.js packages, linked by the installer, so that
# another Node.js on the host (the `alternatives` choice of /usr/bin/node) cannot change it.
ExecStart=/opt/blox-edge/bin/node --enable-source-maps /opt/blox-edge/agent.js --config /etc/blox-edge/agent.json
EnvironmentFile=-/etc/blox-edge/agent.env
Environment=NODE_ENV=production

# Exit codes (docs/agent-config.md): 0 = stopped by a signal, 1 = unexpected failure (restart),
# 64 = bad command line, 78 = invalid configuration: a typo must not become a restart loop;
# 75 = another agent holds the state directory: retried after RestartSec.
Restart=on-failure
RestartSec=5s
RestartPreventExitStatus=64 78
TimeoutStopSec=30s
# KillMode stays the default (control-group). Daemon tasks are Docker containers started by the ECS
# agent; they live in docker.service's/containerd's cgroups, never in this unit's, so stopping or
# restarting the agent stops only the agent and every daemon keeps running.

# Logging: pino JSON lines on stdout go to the journal (journalctl -u blox-edge-agent).
StandardOutput=journal
StandardError=journal
SyslogIdentifier=blox-edge-agent

# Identity: a transient unprivileged user. Its only privilege is the docker group, for the Docker
# Engine socket (which is root-equivalent on the host; that is what reading Docker events takes).
DynamicUser=yes
SupplementaryGroups=docker
StateDirectory=blox-edge
StateDirectoryMode=0700
UMask=0077

# Hardening: read-only system, no home, private /tmp; writable are only the state directory
# (StateDirectory=) and the Docker socket.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
ProtectProc=invisible
ReadWritePaths=-/run/docker.sock
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
# No MemoryDenyWriteExecute=: V8's JIT compiler needs writable executable memory.
MemoryHigh=192M
MemoryMax=256M
TasksMax=64

[Install]
WantedBy=multi-user.target
UNIT
}

# Refuses text that is not one JSON object before it is written anywhere (a malformed *_EXTRA
# setting would keep the ECS agent from registering, or make the agent exit 78 at every start).
require_json_object() {
  local text="$1" what="$2" node="${ROOT}/opt/blox-edge/bin/node"
  [ -x "$node" ] || return 0 # no node yet (tests without one): the agent checks its file itself
  printf '%s' "$text" | "$node" -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); if (typeof v !== "object" || v === null || Array.isArray(v)) process.exit(1);' 2>/dev/null \
    || die "$what is not a valid JSON object: $text"
}

# Keeps every other line of ecs.config (the operator's own settings, and the file's mode: it may
# hold registry credentials) and owns these two keys.
write_ecs_config() {
  local file="${ROOT}/etc/ecs/ecs.config" attributes tmp mode=0600
  attributes="{${DAEMONS_ATTRIBUTE}${BLOX_ECS_ATTRIBUTES_EXTRA:+,${BLOX_ECS_ATTRIBUTES_EXTRA}}}"
  require_json_object "$attributes" "ECS_INSTANCE_ATTRIBUTES (check BLOX_ECS_ATTRIBUTES_EXTRA)"
  mkdir -p "$(dirname "$file")"
  tmp="$(mktemp "${file}.XXXXXX")"
  if [ -f "$file" ]; then
    mode="$(stat -c '%a' "$file")"
    grep -v -E '^(ECS_CLUSTER|ECS_INSTANCE_ATTRIBUTES)=' "$file" >"$tmp" || true
  fi
  printf 'ECS_CLUSTER=%s\nECS_INSTANCE_ATTRIBUTES=%s\n' "$BLOX_CLUSTER" "$attributes" >>"$tmp"
  install_file "$tmp" "$file" "$mode"
}

write_agent_config() {
  local members
  members="\"table\":\"${BLOX_TABLE}\""
  [ -z "$BLOX_REGION" ] || members="${members},\"region\":\"${BLOX_REGION}\""
  [ -z "$BLOX_LOG_LEVEL" ] || members="${members},\"logLevel\":\"${BLOX_LOG_LEVEL}\""
  [ -z "$BLOX_AGENT_CONFIG_EXTRA" ] || members="${members},${BLOX_AGENT_CONFIG_EXTRA}"
  require_json_object "{${members}}" "/etc/blox-edge/agent.json (check BLOX_AGENT_CONFIG_EXTRA)"
  printf '{%s}\n' "$members" | write_file "${ROOT}/etc/blox-edge/agent.json" 0644
}

# Keeps this installer on the host for --configure and --upgrade: the canonical script, without the
# settings a launch template may have put in front of it.
install_self() {
  local tmp
  tmp="$(mktemp "${ROOT}/opt/blox-edge/install.sh.XXXXXX")"
  { printf '#!/bin/bash\n'; sed -n '/^# blox-edge installer: /,$p' "${BASH_SOURCE[0]}"; } >"$tmp"
  install_file "$tmp" "${ROOT}/opt/blox-edge/install.sh" 0755
}

systemd_apply() {
  if [ "$BLOX_SKIP_SYSTEMD" = 1 ] || [ -n "$ROOT" ]; then
    log "not calling systemctl (BLOX_SKIP_SYSTEMD=1 or ROOT set)"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME"
  [ "$mode" != bake ] || return 0
  if [ "$mode" = upgrade ]; then
    [ "$changed" = 0 ] || systemctl try-restart "$UNIT_NAME"
    return 0
  fi
  # --no-block: user-data runs inside cloud-final, and the unit is ordered after ecs.service, which
  # the ECS-optimized AMI orders after cloud-final. Waiting here would deadlock the boot.
  if [ "$changed" = 1 ] && systemctl is-active --quiet "$UNIT_NAME"; then
    systemctl restart --no-block "$UNIT_NAME"
  else
    systemctl start --no-block "$UNIT_NAME"
  fi
}

validate
mkdir -p "${ROOT}/etc/blox-edge"
case "$mode" in
  install)
    install_node # first: node checks the JSON settings before any configuration is written
    write_ecs_config
    install_bundle
    install_unit
    install_self
    write_agent_config
    ;;
  bake | upgrade)
    install_node
    install_bundle
    install_unit
    install_self
    ;;
  configure)
    [ -f "${ROOT}/opt/blox-edge/agent.js" ] || die "no agent bundle in /opt/blox-edge: is this the baked AMI?"
    write_ecs_config
    write_agent_config
    ;;
esac
systemd_apply
log "done ($mode)"
