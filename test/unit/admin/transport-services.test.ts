import test from 'ava';
import { adminDefinition } from '../../../src/admin/proto.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { GrpcTransport, type TransportOptions } from '../../../src/raft/transport/grpc-transport.js';

const base: TransportOptions = { nodeId: 'n1', clusterName: 'pg-main', bindAddress: '127.0.0.1:0', peers: new Map(), onMessage: () => {}, logger: silentLogger };

test('an additional service without a handler for one of its methods is refused at start, naming the method', async (t) => {
  const { ClusterStatus: _dropped, ...partial } = Object.fromEntries(Object.keys(adminDefinition().service).map((name) => [name, () => {}]));
  const error = await t.throwsAsync(GrpcTransport.start({ ...base, services: [{ definition: adminDefinition().service, implementation: partial }] }), { instanceOf: ConfigError });
  t.is(error.key, 'transport.services[0]');
  t.regex(error.message, /no handler for \/pgherd\.admin\.v1\.Admin\/ClusterStatus/);
});

test('stop() of the transport stops its additional services, once', async (t) => {
  const implementation = Object.fromEntries(Object.keys(adminDefinition().service).map((name) => [name, () => {}]));
  let stopped = 0;
  const transport = await GrpcTransport.start({ ...base, services: [{ definition: adminDefinition().service, implementation, stop: () => (stopped += 1) }] });
  await transport.stop();
  await transport.stop();
  t.is(stopped, 1);
});
