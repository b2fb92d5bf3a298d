// Which metric points a service's charts show.
import type { MetricPoint } from './types';

export function pointTime(p: Pick<MetricPoint, 'time'>): number {
  return typeof p.time === 'number' ? p.time : new Date(p.time).getTime();
}

/**
 * The points of the last `rangeS` seconds (counted back from the newest point). The server
 * also reports empty intervals from before the service existed; those are left out, so a new
 * service's traffic is not squeezed against the right edge of a mostly empty window.
 */
export function pointsInWindow(points: MetricPoint[], rangeS: number, intervalS: number, createdAt?: string): MetricPoint[] {
  if (points.length === 0) return points;
  const last = pointTime(points[points.length - 1]);
  const born = createdAt ? Date.parse(createdAt) || 0 : 0;
  return points.filter((p) => {
    const t = pointTime(p);
    return t > last - rangeS * 1000 && t + intervalS * 1000 > born;
  });
}

/**
 * Ticks for a chart of whole numbers (ready replicas): from 0 up to at least `max` (and at
 * least 1), at most six, in steps of 1, 2, 5, 10, … so the axis never shows half a replica.
 */
export function integerTicks(max: number): number[] {
  const top = Math.max(1, Math.ceil(Number.isFinite(max) ? max : 0));
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500].find((s) => top / s <= 5) ?? Math.ceil(top / 5);
  return Array.from({ length: Math.ceil(top / step) + 1 }, (_, i) => i * step);
}

/**
 * A point's average batch size as the chart draws it: `undefined` when the server does not
 * report the field (an older server), `null` (a gap) for an interval in which no request
 * reported a batch (the server sends 0 then), else the size.
 */
export function batchSizeOf(p: MetricPoint): number | null | undefined {
  if (p.avg_batch_size == null) return undefined;
  return p.requests > 0 && p.avg_batch_size > 0 ? p.avg_batch_size : null;
}
