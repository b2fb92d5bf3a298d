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
