// The baseline of a cold start: a bare process that calls StartTask through @aws-sdk/client-ecs
// once and exits. bench/agent.ts bundles it with esbuild exactly as dist/agent.js is bundled
// (one minified ESM file), so that process start-up and module loading cost the same for both.
//   node bare-start-task.js <ecs endpoint> <cluster> <task definition> <container instance arn>
import { ECSClient, StartTaskCommand } from '@aws-sdk/client-ecs';

const [endpoint, cluster, taskDefinition, containerInstance] = process.argv.slice(2);
if (!endpoint || !cluster || !taskDefinition || !containerInstance) {
  process.stderr.write('usage: bare-start-task <ecs endpoint> <cluster> <task definition> <container instance arn>\n');
  process.exit(64);
}
const ecs = new ECSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
const out = await ecs.send(new StartTaskCommand({ cluster, taskDefinition, containerInstances: [containerInstance], startedBy: 'bench-baseline' }));
if (!out.tasks?.length) {
  process.stderr.write(`StartTask started nothing: ${JSON.stringify(out.failures)}\n`);
  process.exit(1);
}
process.stdout.write(`${out.tasks[0]?.taskArn}\n`);
ecs.destroy();
