/**
 * Signed distances (negative inside) to the few shapes the synthetic faces are drawn from, and
 * the antialiased coverage of a pixel from its distance. Distances are in canonical face units
 * (the 112x112 ArcFace frame); `aa` is one output pixel in the same units.
 */

/** Approximate signed distance to an axis-aligned ellipse (Quilez's gradient-normalised form; exact on the boundary). */
export function ellipseDistance(x: number, y: number, cx: number, cy: number, rx: number, ry: number): number {
  const dx = x - cx;
  const dy = y - cy;
  const k0 = Math.sqrt((dx / rx) ** 2 + (dy / ry) ** 2);
  const k1 = Math.sqrt((dx / (rx * rx)) ** 2 + (dy / (ry * ry)) ** 2);
  return k1 === 0 ? -Math.min(rx, ry) : (k0 * (k0 - 1)) / k1;
}

/** Signed distance to a capsule: the segment (ax, ay)-(bx, by) thickened by `radius`. */
export function capsuleDistance(x: number, y: number, ax: number, ay: number, bx: number, by: number, radius: number): number {
  const vx = bx - ax;
  const vy = by - ay;
  const len2 = vx * vx + vy * vy;
  const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((x - ax) * vx + (y - ay) * vy) / len2));
  const dx = x - (ax + t * vx);
  const dy = y - (ay + t * vy);
  return Math.sqrt(dx * dx + dy * dy) - radius;
}

/** How much of a pixel a shape covers, from its signed distance: a one-pixel ramp across the edge. */
export function coverage(distance: number, aa: number): number {
  const c = 0.5 - distance / aa;
  return c <= 0 ? 0 : c >= 1 ? 1 : c;
}

/** Hermite smoothstep of t clamped to [0, 1]. */
export function smoothstep(t: number): number {
  const c = t <= 0 ? 0 : t >= 1 ? 1 : t;
  return c * c * (3 - 2 * c);
}
