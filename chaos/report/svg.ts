/**
 * The run as one self-contained SVG timeline: fault bands over one lane
 * per node (coloured by observed role), the write-availability lane, the
 * findings (split brain, lost writes), the final heal and the recovery.
 * Pure: a string out, no fonts, scripts or links.
 */
import type { FaultKind, FaultRecord, ObservedRole, RunRecord } from '../history.js';
import {
  endMs, longestWriteGap, nodeNames, passed, roleSegments, stackRows, writeBuckets, WRITE_BUCKET_MS, type RoleSegment,
} from './derive.js';
import { durationText, oneLine, secondsText, serverText, spanText } from './format.js';

const WIDTH_PX = 1200;
const LEFT_PX = 120;
const RIGHT_PX = 24;
const PLOT_PX = WIDTH_PX - LEFT_PX - RIGHT_PX;
const TITLE_PX = 34;
const FAULT_ROW_PX = 18;
const MARKS_ROW_PX = 16;
const LANE_PX = 24;
const GAP_PX = 6;
const WRITES_PX = 64;
const FINDINGS_PX = 18;
const AXIS_PX = 30;
const LEGEND_ROW_PX = 20;
/** Rough advance of one character at the 11 px font, to place labels without measuring. */
const CHAR_PX = 6.2;
const FAULT_LABEL_CHARS_MAX = 60;
const ERROR_CHARS_MAX = 180;
const TICKS_MAX = 12;
const TICK_STEPS_S = [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export const ROLE_COLOURS: Readonly<Record<ObservedRole, string>> = {
  primary: '#2e7d32',
  replica: '#64b5f6',
  starting: '#ffb74d',
  stopped: '#9e9e9e',
  unreachable: '#e57373',
};

type FaultFamily = 'process or host' | 'network' | 'operation';
const FAULT_FAMILY: Readonly<Record<FaultKind, FaultFamily>> = {
  'kill-agent': 'process or host',
  'kill-postgres': 'process or host',
  'kill-host': 'process or host',
  'freeze-host': 'process or host',
  'isolate-primary': 'network',
  'isolate-replica': 'network',
  'partition-halves': 'network',
  'partition-bridge': 'network',
  'partition-ring': 'network',
  'packet-loss': 'network',
  switchover: 'operation',
  'replace-node': 'operation',
};
const FAMILY_COLOURS: Readonly<Record<FaultFamily, string>> = { 'process or host': '#d84315', network: '#6a1b9a', operation: '#1565c0' };
const SERVER_COLOURS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];
const FINDING_COLOUR = '#c62828';
const OK_COLOUR = '#2e7d32';

/** Text made safe for XML content and attribute values; characters XML 1.0 cannot hold become U+FFFD. */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

type Attrs = Readonly<Record<string, string | number | undefined>>;

const num = (value: number): string => String(Math.round(value * 10) / 10);

/** One element; children are markup already (use escapeXml for text). */
function tag(name: string, attrs: Attrs, ...children: string[]): string {
  const attributes = Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => ` ${key}="${typeof value === 'number' ? num(value) : escapeXml(value)}"`)
    .join('');
  return children.length === 0 ? `<${name}${attributes}/>` : `<${name}${attributes}>${children.join('')}</${name}>`;
}

const title = (text: string): string => tag('title', {}, escapeXml(text));
const label = (attrs: Attrs, text: string): string => tag('text', attrs, escapeXml(text));

/** Where everything goes: computed once, read by every part. */
interface Layout {
  readonly endMs: number;
  readonly nodes: readonly string[];
  readonly faultRows: readonly number[];
  readonly faultLabelX: readonly number[];
  readonly faultsTop: number;
  readonly marksTop: number;
  readonly lanesTop: number;
  readonly writesTop: number;
  readonly findingsTop: number;
  /** The bottom of the plot: bands and marks reach down to here. */
  readonly plotBottom: number;
  readonly legendTop: number;
  readonly legend: ReadonlyArray<LegendItem & { x: number; y: number }>;
  readonly height: number;
}

const xOf = (layout: Pick<Layout, 'endMs'>, ms: number): number => LEFT_PX + (Math.max(0, ms) / layout.endMs) * PLOT_PX;
const laneTop = (layout: Layout, index: number): number => layout.lanesTop + index * (LANE_PX + GAP_PX);
const faultLabel = (fault: FaultRecord): string => oneLine(`${fault.kind} ${fault.detail}${fault.healMs === null ? ' (never healed)' : ''}`, FAULT_LABEL_CHARS_MAX);

export function renderTimelineSvg(record: RunRecord): string {
  const layout = layoutOf(record);
  const body = [
    tag('rect', { x: 0, y: 0, width: WIDTH_PX, height: layout.height, fill: '#ffffff' }),
    titleLine(record),
    grid(layout),
    faultLabels(record, layout),
    lanes(record, layout),
    writesLane(record, layout),
    findings(record, layout),
    faultBands(record, layout),
    healAndRecovery(record, layout),
    axis(layout),
    legend(layout),
    record.error === null ? '' : label({ class: 'error', x: 8, y: layout.height - 10, fill: FINDING_COLOUR }, `harness error: ${oneLine(record.error, ERROR_CHARS_MAX)}`),
  ];
  const svg = tag('svg', {
    xmlns: 'http://www.w3.org/2000/svg', width: WIDTH_PX, height: layout.height, viewBox: `0 0 ${WIDTH_PX} ${num(layout.height)}`,
    'font-family': 'Helvetica, Arial, sans-serif', 'font-size': 11,
  }, ...body);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
}

function layoutOf(record: RunRecord): Layout {
  const end = endMs(record);
  const nodes = nodeNames(record);
  const scale = { endMs: end };
  // A fault occupies its row from its band's start to the end of its band or of its label, whichever is later.
  const faultLabelX = record.faults.map((f) => Math.max(LEFT_PX, Math.min(xOf(scale, f.startMs) + 3, WIDTH_PX - 4 - faultLabel(f).length * CHAR_PX)));
  const faultRows = stackRows(record.faults.map((f, i) => ({
    from: Math.min(xOf(scale, f.startMs), faultLabelX[i]!),
    to: Math.max(xOf(scale, f.healMs ?? end), faultLabelX[i]! + faultLabel(f).length * CHAR_PX + 4),
  })));
  const faultsTop = TITLE_PX;
  const marksTop = faultsTop + Math.max(1, ...faultRows.map((row) => row + 1)) * FAULT_ROW_PX + 4;
  const lanesTop = marksTop + MARKS_ROW_PX;
  const writesTop = lanesTop + nodes.length * (LANE_PX + GAP_PX);
  const findingsTop = writesTop + WRITES_PX + GAP_PX;
  const plotBottom = findingsTop + FINDINGS_PX;
  const legendTop = plotBottom + AXIS_PX;
  const items = placeLegend(legendItems(record, nodes), legendTop);
  const legendBottom = items.reduce((bottom, item) => Math.max(bottom, item.y + LEGEND_ROW_PX), legendTop);
  const height = legendBottom + (record.error === null ? 8 : 26);
  return { endMs: end, nodes, faultRows, faultLabelX, faultsTop, marksTop, lanesTop, writesTop, findingsTop, plotBottom, legendTop, legend: items, height };
}

function titleLine(record: RunRecord): string {
  const mode = record.synchronous ? 'synchronous' : 'asynchronous';
  const text = `pgherd chaos · seed ${record.seed} · ${record.backend} · profile ${record.profile} · ${record.nodes.length} nodes · ${mode} · ${durationText(record.durationMs)} · `;
  const ok = passed(record);
  return tag('text', { class: 'title', x: 8, y: 22, 'font-size': 14 },
    escapeXml(text), tag('tspan', { 'font-weight': 'bold', fill: ok ? OK_COLOUR : FINDING_COLOUR }, ok ? 'PASS' : 'FAIL'));
}

function tickStepMs(end: number): number {
  const step = TICK_STEPS_S.find((s) => end / (s * 1000) <= TICKS_MAX) ?? Math.ceil(end / 1000 / TICKS_MAX);
  return step * 1000;
}

function ticks(layout: Layout): number[] {
  const step = tickStepMs(layout.endMs);
  return Array.from({ length: Math.floor(layout.endMs / step) + 1 }, (_, i) => i * step);
}

function grid(layout: Layout): string {
  const lines = ticks(layout).map((ms) => tag('line', { x1: xOf(layout, ms), x2: xOf(layout, ms), y1: layout.marksTop, y2: layout.plotBottom, stroke: '#eeeeee' }));
  return tag('g', { class: 'grid' }, ...lines);
}

function axis(layout: Layout): string {
  const y = layout.plotBottom + 4;
  const parts = [tag('line', { x1: LEFT_PX, x2: LEFT_PX + PLOT_PX, y1: y, y2: y, stroke: '#616161' })];
  for (const ms of ticks(layout)) {
    const x = xOf(layout, ms);
    parts.push(tag('line', { x1: x, x2: x, y1: y, y2: y + 5, stroke: '#616161' }));
    parts.push(label({ class: 'tick', x, y: y + 16, 'text-anchor': 'middle', fill: '#424242' }, `${ms / 1000} s`));
  }
  return tag('g', { class: 'axis' }, ...parts);
}

function faultLabels(record: RunRecord, layout: Layout): string {
  const rows = record.faults.map((fault, i) => {
    const y = layout.faultsTop + layout.faultRows[i]! * FAULT_ROW_PX;
    const x1 = xOf(layout, fault.startMs);
    const x2 = xOf(layout, fault.healMs ?? layout.endMs);
    const colour = FAMILY_COLOURS[FAULT_FAMILY[fault.kind]];
    return tag('g', { class: 'fault-label', 'data-fault': i },
      title(`${fault.kind} ${fault.detail}: ${spanText(fault.startMs, fault.healMs)}`),
      tag('rect', { x: x1, y: y + 1, width: Math.max(2, x2 - x1), height: FAULT_ROW_PX - 2, fill: colour, 'fill-opacity': 0.3 }),
      label({ x: layout.faultLabelX[i]!, y: y + 13, fill: '#212121' }, faultLabel(fault)));
  });
  const none = record.faults.length === 0 ? [label({ x: LEFT_PX + 3, y: layout.faultsTop + 13, fill: '#757575' }, 'no faults')] : [];
  return tag('g', { class: 'faults' }, label({ x: 8, y: layout.faultsTop + 13 }, 'faults'), ...rows, ...none);
}

/** The shaded spans of the faults, drawn over the lanes (translucent) so the roles under them stay visible. */
function faultBands(record: RunRecord, layout: Layout): string {
  const bands = record.faults.map((fault, i) => {
    const x1 = xOf(layout, fault.startMs);
    const x2 = xOf(layout, fault.healMs ?? layout.endMs);
    const colour = FAMILY_COLOURS[FAULT_FAMILY[fault.kind]];
    return tag('rect', {
      class: 'fault-band', 'data-fault': i, 'data-kind': fault.kind, x: x1, y: layout.marksTop, width: Math.max(2, x2 - x1), height: layout.plotBottom - layout.marksTop,
      fill: colour, 'fill-opacity': 0.12, stroke: colour, 'stroke-opacity': 0.5, 'stroke-dasharray': fault.healMs === null ? '4 3' : undefined,
    }, title(`${fault.kind} ${fault.detail}: ${spanText(fault.startMs, fault.healMs)}`));
  });
  return tag('g', { class: 'fault-bands' }, ...bands);
}

function lanes(record: RunRecord, layout: Layout): string {
  const segments = roleSegments(record);
  const groups = layout.nodes.map((node, i) => {
    const y = laneTop(layout, i);
    const own = segments.filter((s) => s.node === node).map((s) => roleRect(layout, s, y));
    return tag('g', { class: 'lane', 'data-node': node },
      label({ class: 'lane-label', x: 8, y: y + 16, 'font-weight': 'bold' }, node),
      tag('rect', { x: LEFT_PX, y, width: PLOT_PX, height: LANE_PX, fill: '#fafafa', stroke: '#e0e0e0' }),
      ...own);
  });
  return tag('g', { class: 'lanes' }, ...groups);
}

function roleRect(layout: Layout, segment: RoleSegment, y: number): string {
  const x1 = xOf(layout, segment.fromMs);
  const width = Math.max(1, xOf(layout, segment.toMs) - x1);
  const timeline = segment.timeline === null ? '' : ` timeline ${segment.timeline}`;
  const rect = tag('rect', { class: 'role', 'data-role': segment.role, x: x1, y: y + 2, width, height: LANE_PX - 4, fill: ROLE_COLOURS[segment.role] },
    title(`${segment.node} ${segment.role}${timeline}: ${spanText(segment.fromMs, segment.toMs)}`));
  const tl = `tl ${segment.timeline ?? '?'}`;
  const showsTimeline = segment.role === 'primary' && width >= tl.length * CHAR_PX + 6;
  return showsTimeline ? rect + label({ class: 'timeline', x: x1 + width / 2, y: y + 16, 'text-anchor': 'middle', fill: '#ffffff' }, tl) : rect;
}

/** A server's colour: its node's position (a server not among the nodes takes the next colour). */
function serverColour(nodes: readonly string[], server: string): string {
  const index = nodes.indexOf(server);
  return SERVER_COLOURS[(index < 0 ? nodes.length : index) % SERVER_COLOURS.length]!;
}

/** Acknowledged writes per bucket, stacked by server; a bucket without writes draws nothing. */
function writesLane(record: RunRecord, layout: Layout): string {
  const buckets = writeBuckets(record);
  const most = buckets.reduce((max, bucket) => Math.max(max, [...bucket.values()].reduce((a, b) => a + b, 0)), 0);
  const top = layout.writesTop;
  const bars: string[] = [];
  buckets.forEach((bucket, index) => {
    const fromMs = index * WRITE_BUCKET_MS;
    const x1 = xOf(layout, fromMs);
    const width = Math.max(0.5, xOf(layout, Math.min(layout.endMs, fromMs + WRITE_BUCKET_MS)) - x1);
    let base = top + WRITES_PX;
    for (const server of [...bucket.keys()].sort((a, b) => layout.nodes.indexOf(a) - layout.nodes.indexOf(b) || a.localeCompare(b))) {
      const count = bucket.get(server)!;
      const height = (count / most) * (WRITES_PX - 2);
      base -= height;
      bars.push(tag('rect', { class: 'bucket', 'data-bucket': index, 'data-server': server, 'data-count': count, x: x1, y: base, width, height, fill: serverColour(layout.nodes, server) },
        title(`${count} write${count === 1 ? '' : 's'} acknowledged by ${server} in ${spanText(fromMs, fromMs + WRITE_BUCKET_MS)}`)));
    }
  });
  const gap = longestWriteGap(record.acked);
  const gapTitle = gap ? [title(`longest gap ${durationText(gap.gapMs)} (${spanText(gap.fromMs, gap.toMs)})`)] : [];
  return tag('g', { class: 'writes' },
    label({ x: 8, y: top + 16, 'font-weight': 'bold' }, 'acked writes'),
    label({ x: 8, y: top + 30, fill: '#616161' }, `per ${WRITE_BUCKET_MS} ms`),
    label({ x: 8, y: top + 44, fill: '#616161' }, `max ${most}`),
    tag('rect', { x: LEFT_PX, y: top, width: PLOT_PX, height: WRITES_PX, fill: '#fafafa', stroke: '#e0e0e0' }, ...gapTitle),
    ...bars);
}

/** Split-brain intervals (a red span over the lanes and in the findings row) and lost writes (a marker per bucket). */
function findings(record: RunRecord, layout: Layout): string {
  const top = layout.findingsTop;
  const parts = [label({ x: 8, y: top + 13, 'font-weight': 'bold' }, 'findings')];
  const checks = record.checks;
  if (checks === null) {
    parts.push(label({ x: LEFT_PX + 3, y: top + 13, fill: '#757575' }, 'checks did not run'));
    return tag('g', { class: 'findings' }, ...parts);
  }
  for (const found of checks.splitBrains) {
    const x1 = xOf(layout, found.fromMs);
    const width = Math.max(3, xOf(layout, found.toMs) - x1);
    const what = `split brain: ${serverText(found.primary, found.timeline)} and ${serverText(found.other, found.otherTimeline)} accepted writes, ${spanText(found.fromMs, found.toMs, 2)}`;
    parts.push(tag('g', { class: 'split-brain' }, title(what),
      tag('rect', { x: x1, y: layout.lanesTop, width, height: layout.plotBottom - layout.lanesTop, fill: FINDING_COLOUR, 'fill-opacity': 0.25 }),
      tag('rect', { x: x1, y: top + 2, width, height: FINDINGS_PX - 4, fill: FINDING_COLOUR })));
  }
  const lostByBucket = new Map<number, typeof checks.lostWrites[number][]>();
  for (const write of checks.lostWrites) {
    const index = Math.floor(write.ackedAtMs / WRITE_BUCKET_MS);
    const bucket = lostByBucket.get(index);
    if (bucket) bucket.push(write);
    else lostByBucket.set(index, [write]);
  }
  for (const [index, writes] of lostByBucket) {
    const x = xOf(layout, (index + 0.5) * WRITE_BUCKET_MS);
    const ids = writes.slice(0, 10).map((w) => `${w.id}@${serverText(w.server, w.timeline)}`).join(' ');
    parts.push(tag('path', { class: 'lost-write', 'data-count': writes.length, d: `M${num(x - 5)} ${top + 3}h10l-5 ${FINDINGS_PX - 6}z`, fill: FINDING_COLOUR },
      title(`${writes.length} lost acknowledged write${writes.length === 1 ? '' : 's'} (acked ${spanText(index * WRITE_BUCKET_MS, (index + 1) * WRITE_BUCKET_MS)}): ${ids}${writes.length > 10 ? ' …' : ''}`)));
  }
  if (checks.splitBrains.length === 0 && checks.lostWrites.length === 0) parts.push(label({ x: LEFT_PX + 3, y: top + 13, fill: '#757575' }, 'no split brain, no lost writes'));
  return tag('g', { class: 'findings' }, ...parts);
}

/** The final heal (dashed) and the recovery moment, or where the recovery bound ran out without one. */
function healAndRecovery(record: RunRecord, layout: Layout): string {
  const parts: string[] = [];
  const heal = record.finalHealMs;
  const line = (x: number, colour: string, dashed: boolean): string =>
    tag('line', { x1: x, x2: x, y1: layout.marksTop, y2: layout.plotBottom, stroke: colour, 'stroke-width': 2, 'stroke-dasharray': dashed ? '6 3' : undefined });
  // The heal's label goes left of its line and the recovery's right, so the two do not run into each other; either flips where it
  // would leave the plot, and a recovery label flipped towards the heal's goes one line lower.
  const mark = (x: number, text: string, colour: string, side: 'left' | 'right'): string => {
    const widthPx = text.length * CHAR_PX;
    const left = side === 'left' ? x - 3 - widthPx >= LEFT_PX : x + 3 + widthPx > LEFT_PX + PLOT_PX;
    const y = layout.marksTop + (side === 'right' && left ? 24 : 12);
    return label({ x: left ? x - 3 : x + 3, y, fill: colour, 'text-anchor': left ? 'end' : undefined }, text);
  };
  if (heal !== null) {
    const x = xOf(layout, heal);
    parts.push(tag('g', { class: 'final-heal' }, line(x, '#212121', true), mark(x, `final heal ${secondsText(heal)} s`, '#212121', 'left')));
  }
  const recovery = record.checks?.recovery;
  if (recovery) {
    const colour = recovery.ok ? OK_COLOUR : FINDING_COLOUR;
    if (recovery.recoveredAtMs !== null) {
      const x = xOf(layout, recovery.recoveredAtMs);
      const after = heal === null ? '' : ` +${durationText(recovery.recoveredAtMs - heal)}`;
      parts.push(tag('g', { class: 'recovery', 'data-ok': String(recovery.ok) }, line(x, colour, false), mark(x, `recovered${after}`, colour, 'right')));
    } else if (heal !== null) {
      const x = xOf(layout, Math.min(layout.endMs, heal + recovery.boundMs));
      parts.push(tag('g', { class: 'recovery', 'data-ok': 'false' }, line(x, colour, true), mark(x, `not recovered (bound ${durationText(recovery.boundMs)})`, colour, 'right')));
    }
  }
  return tag('g', { class: 'marks' }, ...parts);
}

interface LegendItem {
  readonly text: string;
  readonly colour: string;
  readonly shape: 'box' | 'band' | 'line' | 'dashed' | 'marker';
}

function legendItems(record: RunRecord, nodes: readonly string[]): LegendItem[] {
  const servers = [...new Set(record.acked.map((w) => w.server))].sort((a, b) => nodes.indexOf(a) - nodes.indexOf(b) || a.localeCompare(b));
  const families = [...new Set(record.faults.map((f) => FAULT_FAMILY[f.kind]))];
  return [
    ...(Object.keys(ROLE_COLOURS) as ObservedRole[]).map((role): LegendItem => ({ text: role, colour: ROLE_COLOURS[role], shape: 'box' })),
    ...families.map((family): LegendItem => ({ text: `fault: ${family}`, colour: FAMILY_COLOURS[family], shape: 'band' })),
    ...servers.map((server): LegendItem => ({ text: `writes on ${server}`, colour: serverColour(nodes, server), shape: 'box' })),
    { text: 'split brain', colour: FINDING_COLOUR, shape: 'band' },
    { text: 'lost write', colour: FINDING_COLOUR, shape: 'marker' },
    { text: 'final heal', colour: '#212121', shape: 'dashed' },
    { text: 'recovered', colour: OK_COLOUR, shape: 'line' },
  ];
}

function placeLegend(items: readonly LegendItem[], top: number): Array<LegendItem & { x: number; y: number }> {
  let x = 8;
  let y = top;
  return items.map((item) => {
    const width = 20 + item.text.length * CHAR_PX + 14;
    if (x + width > WIDTH_PX - 8) {
      x = 8;
      y += LEGEND_ROW_PX;
    }
    const placed = { ...item, x, y };
    x += width;
    return placed;
  });
}

function legend(layout: Layout): string {
  const entries = layout.legend.map((item) => {
    const { x, y } = item;
    const swatch = item.shape === 'box' ? tag('rect', { x, y: y + 3, width: 14, height: 12, fill: item.colour })
      : item.shape === 'band' ? tag('rect', { x, y: y + 3, width: 14, height: 12, fill: item.colour, 'fill-opacity': 0.3, stroke: item.colour })
      : item.shape === 'marker' ? tag('path', { d: `M${num(x + 2)} ${y + 4}h10l-5 10z`, fill: item.colour })
      : tag('line', { x1: x + 7, x2: x + 7, y1: y + 2, y2: y + 16, stroke: item.colour, 'stroke-width': 2, 'stroke-dasharray': item.shape === 'dashed' ? '4 2' : undefined });
    return tag('g', { class: 'legend-item' }, swatch, label({ x: x + 20, y: y + 13 }, item.text));
  });
  return tag('g', { class: 'legend' }, ...entries);
}
