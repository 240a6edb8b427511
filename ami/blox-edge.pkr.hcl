# blox-edge AMI: the newest ECS-optimized Amazon Linux 2023 AMI with the blox-edge agent baked in
# (Node.js from the distribution's packages, the bundle under /opt/blox-edge, the systemd unit
# enabled but inactive until user-data writes /etc/blox-edge/agent.json).
#
#   npm run build
#   packer build -var region=eu-west-1 -var agent_version=0.1.0 \
#     -var bundle_sha256=$(sha256sum dist/agent.js | cut -d' ' -f1) ami/
#
# Run from the repository root (paths are relative to it). The baking itself is the same installer
# the user-data of a stock AMI runs (userdata/install.sh --bake), so both paths give identical hosts.
# The template uses source_ami_filter rather than an amazon-ami data source so that it validates
# and builds with packer 1.6 (amazon builder built in); with packer >= 1.10 install the Amazon
# plugin first: packer plugins install github.com/hashicorp/amazon.

locals {
  # ami-name-safe timestamp
  build_time = formatdate("YYYYMMDD-hhmmss", timestamp())
  ami_name   = "blox-edge-${var.agent_version}-al2023-ecs-${var.architecture}-${local.build_time}"
}

source "amazon-ebs" "blox-edge" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id == "" ? null : var.subnet_id
  ssh_username  = "ec2-user"
  ami_name      = local.ami_name
  ami_regions   = var.ami_regions

  ami_description = "ECS-optimized Amazon Linux 2023 with the blox-edge agent ${var.agent_version}"

  # A given source_ami wins; otherwise the newest ECS-optimized AL2023 image owned by Amazon. (With
  # both set, the builder would require the given AMI to match the filter as well.)
  source_ami = var.source_ami == "" ? null : var.source_ami
  dynamic "source_ami_filter" {
    for_each = var.source_ami == "" ? ["newest"] : []
    content {
      filters = {
        name                = "al2023-ami-ecs-hvm-*-${var.architecture}"
        architecture        = var.architecture
        virtualization-type = "hvm"
        root-device-type    = "ebs"
      }
      owners      = ["amazon"]
      most_recent = true
    }
  }

  tags = {
    Name                = local.ami_name
    "blox-edge:version" = var.agent_version
    "blox-edge:arch"    = var.architecture
    "blox-edge:source"  = "{{ .SourceAMIName }}"
  }
}

build {
  sources = ["source.amazon-ebs.blox-edge"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/blox-edge"]
  }

  provisioner "file" {
    sources     = ["${var.bundle_dir}/agent.js", "${var.bundle_dir}/agent.js.map", "userdata/install.sh"]
    destination = "/tmp/blox-edge/"
  }

  provisioner "shell" {
    environment_vars = [
      "BLOX_NODE_MAJOR=${var.node_major}",
      "BLOX_BUNDLE_SHA256=${var.bundle_sha256}",
    ]
    inline = [
      "set -eu",
      "sudo env BLOX_NODE_MAJOR=\"$BLOX_NODE_MAJOR\" BLOX_BUNDLE_SHA256=\"$BLOX_BUNDLE_SHA256\" BLOX_BUNDLE_URL=file:///tmp/blox-edge/agent.js bash /tmp/blox-edge/install.sh --bake",
      "/opt/blox-edge/bin/node /opt/blox-edge/agent.js --version",
      "rm -rf /tmp/blox-edge",
      # Instances from this AMI must register afresh: no ECS agent state from the build instance.
      "sudo systemctl stop ecs.service || true",
      "sudo rm -rf /var/lib/ecs/data/* /var/log/ecs/*",
      # Nor blox-edge agent state (its lease owner name is per instance; the bake never starts it).
      "sudo rm -rf /var/lib/private/blox-edge /var/lib/blox-edge",
    ]
  }
}
