import type { ChannelOptions } from '@grpc/grpc-js';
import type { TransportLimits } from './options.js';

/** Options of the channel to one peer. */
export function clientChannelOptions(limits: TransportLimits): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': limits.reconnectBackoffInitialMs,
    'grpc.max_reconnect_backoff_ms': limits.reconnectBackoffMaxMs,
    'grpc.max_send_message_length': limits.messageBytesMax,
    'grpc.max_receive_message_length': limits.messageBytesMax,
    // The transport reopens streams itself; gRPC retries would only buffer messages in a second queue.
    'grpc.enable_retries': 0,
    // grpc-js still copies every write into a retry buffer (up to 256 KiB per call) and acknowledges it at
    // once; on a long-lived stream that hides backpressure and costs O(buffer) per message (measured:
    // 7k msg/s instead of tens of thousands). No buffer: write() reflects the HTTP/2 stream.
    'grpc.per_rpc_retry_buffer_size': 0,
    // One connection per peer link: links (and transports in one process) never share a subchannel's fate.
    'grpc.use_local_subchannel_pool': 1,
    // Peer traffic never goes through an HTTP proxy configured for the rest of the machine.
    'grpc.enable_http_proxy': 0,
  };
}

/** Options of the server that receives from peers. */
export function serverChannelOptions(limits: TransportLimits): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_send_message_length': limits.messageBytesMax,
    'grpc.max_receive_message_length': limits.messageBytesMax,
  };
}
