// ECS's own request shapes, as the SDK types them, for the emulator's modules (types only: the
// emulator serves these shapes, it does not call ECS). The one place under local/ecs/ that names
// the SDK, so the lint rule keeping the SDK at the edges lists this file alone.
export type {
  ContainerDefinition,
  ContainerOverride,
  DeploymentConfiguration,
  PlacementConstraint,
  PlacementStrategy,
  RegisterTaskDefinitionRequest,
  TaskOverride,
} from '@aws-sdk/client-ecs';
