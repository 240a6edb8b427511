// Clusters: CreateCluster, DeleteCluster, DescribeClusters, ListClusters.
import { CLUSTER_NAME_PATTERN, includeOf, paginate, tagsOf } from '../checks.js';
import type { EcsContext, Operations } from '../context.js';
import { EcsError, invalidParameter } from '../errors.js';
import type { ClusterState, Json } from '../state.js';
import { clusterWire, compact } from '../wire.js';

export function clusterOperations({ state }: EcsContext): Operations {
  const wire = (cluster: ClusterState, include: string[]): Json => {
    let activeServices = 0;
    for (const service of cluster.services.values()) if (service.status === 'ACTIVE') activeServices++;
    return clusterWire(cluster, include, activeServices);
  };

  return {
    CreateCluster(input) {
      const name = input.clusterName === undefined ? 'default' : input.clusterName;
      if (typeof name !== 'string' || !CLUSTER_NAME_PATTERN.test(name)) {
        throw invalidParameter('Cluster name can only contain up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores.');
      }
      const tags = tagsOf(input.tags);
      let cluster = state.clusters.get(name);
      // Modelled: CreateCluster is idempotent for an ACTIVE cluster (it answers the existing one).
      if (!cluster || cluster.status === 'INACTIVE') {
        cluster = {
          seq: state.nextSeq(),
          arn: state.clusterArn(name),
          name,
          status: 'ACTIVE',
          tags,
          settings: Array.isArray(input.settings) ? (input.settings as Json[]) : [{ name: 'containerInsights', value: 'disabled' }],
          instances: new Map(),
          inactiveInstances: new Map(),
          tasks: new Map(),
          tasksByStartedBy: new Map(),
          runTaskTokens: new Map(),
          services: new Map(),
        };
        state.clusters.delete(name);
        state.clusters.set(name, cluster);
      }
      return { cluster: wire(cluster, ['TAGS', 'SETTINGS']) };
    },

    DeleteCluster(input) {
      const cluster = state.clusterRef(input.cluster);
      if (cluster.instances.size > 0) {
        throw new EcsError('ClusterContainsContainerInstancesException', 'The Cluster cannot be deleted while Container Instances are active or draining.');
      }
      for (const service of cluster.services.values()) {
        if (service.status !== 'INACTIVE') throw new EcsError('ClusterContainsServicesException', 'The Cluster cannot be deleted while Services are active.');
      }
      for (const task of cluster.tasks.values()) {
        if (task.lastStatus !== 'STOPPED') throw new EcsError('ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.');
      }
      cluster.status = 'INACTIVE';
      return { cluster: wire(cluster, ['TAGS']) };
    },

    DescribeClusters(input) {
      const refs = Array.isArray(input.clusters) && input.clusters.length > 0 ? (input.clusters as string[]) : ['default'];
      if (refs.length > 100) throw invalidParameter('Clusters can contain at most 100 entries.');
      const include = includeOf(input);
      const clusters: Json[] = [];
      const failures: Json[] = [];
      for (const ref of refs) {
        const name = state.clusterNameOf(ref);
        const cluster = state.clusters.get(name);
        if (cluster) clusters.push(wire(cluster, include));
        else failures.push({ arn: state.clusterArn(name), reason: 'MISSING' });
      }
      return { clusters, failures };
    },

    ListClusters(input) {
      const active = [...state.clusters.values()].filter((cluster) => cluster.status === 'ACTIVE').sort((a, b) => a.seq - b.seq);
      const { page, nextToken } = paginate(active, (cluster) => cluster.seq, input);
      return compact({ clusterArns: page.map((cluster) => cluster.arn), nextToken });
    },
  };
}
