# Variables of the blox-edge AMI. Override with -var name=value or a *.pkrvars.hcl file.

variable "region" {
  type        = string
  description = "AWS region to build the AMI in."
  default     = "us-east-1"
}

variable "architecture" {
  type        = string
  description = "CPU architecture of the AMI: x86_64 or arm64 (the instance type must match)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the temporary build instance (an arm64 type such as t4g.small for arm64)."
  default     = "t3.small"
}

variable "source_ami" {
  type        = string
  description = "Source AMI id. Empty: the newest ECS-optimized Amazon Linux 2023 AMI of the architecture, looked up by name."
  default     = ""
}

variable "agent_version" {
  type        = string
  description = "Version of the agent bundle (package.json version); part of the AMI name and tags."
  default     = "0.1.0"
}

variable "bundle_dir" {
  type        = string
  description = "Directory holding agent.js and agent.js.map (npm run build writes them to dist/)."
  default     = "dist"
}

variable "bundle_sha256" {
  type        = string
  description = "Expected SHA-256 of agent.js (required: the bake refuses any other file), e.g. from sha256sum dist/agent.js on the machine that built it."
  validation {
    condition     = length(var.bundle_sha256) == 64 && trim(var.bundle_sha256, "0123456789abcdefABCDEF") == ""
    error_message = "The bundle_sha256 value must be 64 hex digits: the SHA-256 of dist/agent.js."
  }
}

variable "node_major" {
  type        = number
  description = "Node.js major version installed from the distribution's packages (nodejsNN); 22 or newer."
  default     = 22

  validation {
    condition     = var.node_major >= 22
    error_message = "The node_major must be 22 or newer: Node.js 20 is past its end of life."
  }
}

variable "subnet_id" {
  type        = string
  description = "Subnet for the build instance; empty: the default VPC."
  default     = ""
}

variable "ami_regions" {
  type        = list(string)
  description = "Further regions to copy the AMI to."
  default     = []
}
