import { crc32 } from '../../lib/crc32.js';
import { assert } from '../../lib/assert.js';
import type { Message } from '../core/types.js';
import { assertEncodable, CodecError, decodeNodeId, decodeU64, encodeU64 } from './codec.js';
import type { WireSnapshotChunk, WireSnapshotHeader, WireSnapshotMetadata } from './wire.js';

/**
 * A 'snap' message <-> an InstallSnapshot chunk stream (validated eagerly, chunked lazily):
 *   chunk 0: header (cluster, from, to, term, metadata, data_bytes, data_crc32), no data;
 *   chunk 1..n: data at contiguous offsets, at most chunkBytes each; the last is flagged.
 * An empty snapshot is the header plus one empty last chunk. Data chunks are
 * views of the snapshot (no copies); the receiver copies each chunk once into
 * a buffer of the announced size and checks the length and CRC-32 at the end.
 */
export function snapshotChunks(message: Message, clusterName: string, chunkBytes: number): Generator<WireSnapshotChunk, void> {
  assertEncodable(message);
  assert(message.type === 'snap' && message.snapshot !== undefined, () => `expected a 'snap' message with a snapshot, got '${message.type}'`);
  assert(Number.isSafeInteger(chunkBytes) && chunkBytes > 0, () => `chunkBytes must be a positive integer, got ${chunkBytes}`);
  const { metadata, data } = message.snapshot;
  const header: WireSnapshotHeader = {
    cluster_name: clusterName,
    from_node_id: message.from,
    to_node_id: message.to,
    term: encodeU64(message.term, 'term'),
    metadata: {
      index: encodeU64(metadata.index, 'snapshot.metadata.index'),
      term: encodeU64(metadata.term, 'snapshot.metadata.term'),
      voters: [...metadata.confState.voters],
      learners: [...metadata.confState.learners],
    },
    data_bytes: data.byteLength,
    data_crc32: crc32(data),
  };
  // Validated and encoded eagerly (above); only the chunking is lazy.
  return chunksOf(header, data, chunkBytes);
}

function* chunksOf(header: WireSnapshotHeader, data: Uint8Array, chunkBytes: number): Generator<WireSnapshotChunk, void> {
  yield { header, offset: 0, data: new Uint8Array(0), last: false };
  let offset = 0;
  do {
    const end = Math.min(offset + chunkBytes, data.byteLength);
    yield { offset, data: data.subarray(offset, end), last: end === data.byteLength };
    offset = end;
  } while (offset < data.byteLength);
}

/** Reassembles one InstallSnapshot stream. Throws CodecError on any protocol violation. */
export class SnapshotAssembler {
  private headerValue: WireSnapshotHeader | undefined;
  private data: Uint8Array | undefined;
  private receivedBytes = 0;
  private complete = false;

  constructor(private readonly snapshotBytesMax: number) {
    assert(Number.isSafeInteger(snapshotBytesMax) && snapshotBytesMax >= 0, 'snapshotBytesMax must be a non-negative integer');
  }

  /** The validated header, once the first chunk arrived. */
  get header(): WireSnapshotHeader | undefined {
    return this.headerValue;
  }

  get isComplete(): boolean {
    return this.complete;
  }

  add(chunk: WireSnapshotChunk): void {
    if (this.complete) throw new CodecError('snapshot chunk after the last one');
    if (this.headerValue === undefined) {
      this.addHeader(chunk);
    } else {
      this.addData(chunk);
    }
    if (chunk.last) this.complete = true;
  }

  private addHeader(chunk: WireSnapshotChunk): void {
    const header = chunk.header;
    if (header === undefined || header === null) throw new CodecError('first snapshot chunk has no header');
    if (chunk.data.byteLength !== 0 || chunk.offset !== 0) throw new CodecError('first snapshot chunk must carry no data');
    decodeNodeId(header.from_node_id, 'header.from_node_id');
    decodeNodeId(header.to_node_id, 'header.to_node_id');
    decodeU64(header.term, 'header.term');
    decodeMetadata(header.metadata);
    const dataBytes = decodeU64(header.data_bytes, 'header.data_bytes');
    if (dataBytes > this.snapshotBytesMax) {
      throw new CodecError(`snapshot of ${dataBytes} bytes exceeds the limit of ${this.snapshotBytesMax} bytes`);
    }
    this.headerValue = header;
    this.data = new Uint8Array(dataBytes);
  }

  private addData(chunk: WireSnapshotChunk): void {
    assert(this.data !== undefined, 'snapshot buffer exists once the header arrived');
    if (chunk.header !== undefined && chunk.header !== null) throw new CodecError('snapshot header repeated');
    if (chunk.offset !== this.receivedBytes) {
      throw new CodecError(`snapshot chunk at offset ${chunk.offset}, expected ${this.receivedBytes}`);
    }
    const end = this.receivedBytes + chunk.data.byteLength;
    if (end > this.data.byteLength) {
      throw new CodecError(`snapshot chunks exceed the announced ${this.data.byteLength} bytes`);
    }
    this.data.set(chunk.data, this.receivedBytes);
    this.receivedBytes = end;
  }

  /** The reassembled 'snap' message; only after the last chunk. */
  finish(): Message {
    const header = this.headerValue;
    const data = this.data;
    if (!this.complete || header === undefined || data === undefined) throw new CodecError('snapshot stream ended before its last chunk');
    if (this.receivedBytes !== data.byteLength) {
      throw new CodecError(`snapshot has ${this.receivedBytes} bytes, announced ${data.byteLength}`);
    }
    if (crc32(data) !== header.data_crc32) throw new CodecError('snapshot data does not match its CRC-32');
    const metadata = decodeMetadata(header.metadata);
    return {
      type: 'snap',
      from: header.from_node_id,
      to: header.to_node_id,
      term: header.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      snapshot: {
        metadata: { index: metadata.index, term: metadata.term, confState: { voters: metadata.voters, learners: metadata.learners } },
        data,
      },
    };
  }
}

function decodeMetadata(metadata: WireSnapshotMetadata | null | undefined): WireSnapshotMetadata {
  if (metadata === undefined || metadata === null) throw new CodecError('snapshot header has no metadata');
  const ids = (list: unknown, field: string): string[] => {
    if (!Array.isArray(list)) throw new CodecError(`${field}: not a list`);
    return list.map((id, i) => decodeNodeId(id, `${field}[${i}]`));
  };
  return {
    index: decodeU64(metadata.index, 'metadata.index'),
    term: decodeU64(metadata.term, 'metadata.term'),
    voters: ids(metadata.voters, 'metadata.voters'),
    learners: ids(metadata.learners, 'metadata.learners'),
  };
}
