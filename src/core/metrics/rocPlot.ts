import sharp from 'sharp';
import { RocCurve } from './roc';

/**
 * ROC curves as an SVG image (and PNG through sharp's SVG renderer), in the form face
 * verification papers use: TAR against FAR on a log axis, so the low-FAR region that decides
 * deployments is visible. The FAR axis starts at the decade of the smallest measurable FAR
 * (1 / negatives). Segments between ROC points are straight in linear FAR (a tie between same
 * and different pairs, resolved at random), so they are drawn sampled along the log axis.
 */

export interface RocPlotCurve {
  label: string;
  roc: RocCurve;
  auc: number;
  eer: number;
}

export interface RocPlotOptions {
  title?: string;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const MARGIN = { left: 64, right: 20, top: 40, bottom: 52 };
/** Samples per linear segment that spans more than a little of the log axis. */
const SEGMENT_SAMPLES = 12;

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** The lowest decade of the FAR axis: at or below 1 / negatives, at most 1e-1. */
export function farAxisFloor(curves: readonly RocPlotCurve[]): number {
  const negatives = Math.max(...curves.map((c) => c.roc.negatives));
  return Math.min(-1, Math.floor(Math.log10(1 / negatives)));
}

/** (fpr, tpr) points to draw, with the tie segments sampled along the log axis; fpr below the axis is clamped to it. */
export function curvePolyline(roc: RocCurve, minFar: number): [number, number][] {
  const out: [number, number][] = [];
  const clamp = (f: number) => Math.max(f, minFar);
  const pts = roc.points;
  for (let k = 0; k < pts.length; k++) {
    const p = pts[k];
    if (k > 0) {
      const q = pts[k - 1];
      const from = clamp(q.fpr);
      const to = clamp(p.fpr);
      if (p.tpr !== q.tpr && to > from * 1.01) {
        for (let s = 1; s < SEGMENT_SAMPLES; s++) {
          const f = from * (to / from) ** (s / SEGMENT_SAMPLES);
          const t = q.tpr + ((p.tpr - q.tpr) * (f - q.fpr)) / (p.fpr - q.fpr);
          out.push([f, t]);
        }
      }
    }
    out.push([clamp(p.fpr), p.tpr]);
  }
  return out;
}

function formatFar(exponent: number): string {
  return exponent === 0 ? '1' : `1e${exponent}`;
}

export function rocSvg(curves: readonly RocPlotCurve[], opts: RocPlotOptions = {}): string {
  if (curves.length === 0) throw new Error('rocSvg: no curves to draw');
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const floor = farAxisFloor(curves);
  const minFar = 10 ** floor;
  const x = (far: number) => MARGIN.left + ((Math.log10(far) - floor) / -floor) * plotW;
  const y = (tar: number) => MARGIN.top + (1 - tar) * plotH;
  const xy = ([f, t]: [number, number]) => `${x(f).toFixed(2)},${y(t).toFixed(2)}`;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (opts.title) parts.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  // Grid and tick labels: one line per decade of FAR, every 0.2 of TAR.
  for (let e = floor; e <= 0; e++) {
    const gx = x(10 ** e).toFixed(2);
    parts.push(`<line x1="${gx}" y1="${MARGIN.top}" x2="${gx}" y2="${MARGIN.top + plotH}" stroke="#ddd"/>`);
    parts.push(`<text x="${gx}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${formatFar(e)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const t = i / 5;
    const gy = y(t).toFixed(2);
    parts.push(`<line x1="${MARGIN.left}" y1="${gy}" x2="${MARGIN.left + plotW}" y2="${gy}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${gy}" text-anchor="end" dominant-baseline="middle">${t.toFixed(1)}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" text-anchor="middle">False accept rate (FAR, log scale)</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">True accept rate (TAR)</text>`);
  // Chance: TAR = FAR.
  const chance: [number, number][] = [];
  for (let s = 0; s <= 40; s++) {
    const f = 10 ** (floor - (floor * s) / 40);
    chance.push([f, f]);
  }
  parts.push(`<polyline points="${chance.map(xy).join(' ')}" fill="none" stroke="#999" stroke-dasharray="4 4"/>`);
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    parts.push(`<polyline points="${curvePolyline(c.roc, minFar).map(xy).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const ly = MARGIN.top + plotH - 12 - (curves.length - 1 - i) * 18;
    const lx = MARGIN.left + plotW * 0.35;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    const text = `${c.label}  AUC ${c.auc.toFixed(4)}  EER ${(c.eer * 100).toFixed(2)}%`;
    parts.push(`<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${escapeXml(text)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Renders an SVG (e.g. rocSvg's) to PNG with sharp (librsvg). */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg, 'utf8')).png().toBuffer();
}
