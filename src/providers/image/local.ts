// IMAGE_PROVIDER=local: an offline, keyless artwork rendered with sharp, deterministic in the prompt and the token
// id (same input, same bytes). The prompt picks the palette and the kind of shapes, the token id their layout,
// so different prompts look visibly different and tokens of one author look related. The prompt itself is never
// drawn: the image is public, the prompt is not.
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { GeneratedImage, ImageProvider, ImageRequest } from './image-provider.js';

export const LOCAL_IMAGE_SIZE = 1024;

/** A small deterministic PRNG (mulberry32) seeded from a hash. */
function prng(seed: Buffer): () => number {
  let state = seed.readUInt32BE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hsl = (h: number, s: number, l: number) =>
  `hsl(${Math.round(h) % 360},${Math.round(s)}%,${Math.round(l)}%)`;

/** The SVG of a token's artwork; exported for tests. */
export function localArtworkSvg(prompt: string, tokenId: number): string {
  const size = LOCAL_IMAGE_SIZE;
  const fromPrompt = prng(createHash('sha256').update(prompt, 'utf8').digest());
  const fromToken = prng(createHash('sha256').update(`${prompt}\n${tokenId}`, 'utf8').digest());
  const hue = fromPrompt() * 360;
  const spread = 20 + fromPrompt() * 140;
  const palette = Array.from({ length: 5 }, (_, i) =>
    hsl(hue + i * spread, 55 + fromPrompt() * 40, 35 + fromPrompt() * 40),
  );
  const kind = Math.floor(fromPrompt() * 3);
  const count = 18 + Math.floor(fromPrompt() * 30);
  const pick = () => palette[Math.floor(fromToken() * palette.length)] ?? palette[0];
  const shapes: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const x = fromToken() * size;
    const y = fromToken() * size;
    const r = 30 + fromToken() * 220;
    const opacity = (0.35 + fromToken() * 0.55).toFixed(2);
    if (kind === 0) {
      shapes.push(
        `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r.toFixed(1)}" fill="${pick()}" fill-opacity="${opacity}"/>`,
      );
    } else if (kind === 1) {
      const angle = (fromToken() * 90).toFixed(1);
      shapes.push(
        `<rect x="${(x - r / 2).toFixed(1)}" y="${(y - r / 2).toFixed(1)}" width="${r.toFixed(1)}" height="${(r * (0.3 + fromToken())).toFixed(1)}" fill="${pick()}" fill-opacity="${opacity}" transform="rotate(${angle} ${x.toFixed(1)} ${y.toFixed(1)})"/>`,
      );
    } else {
      const points = Array.from({ length: 3 }, () => {
        const a = fromToken() * Math.PI * 2;
        return `${(x + Math.cos(a) * r).toFixed(1)},${(y + Math.sin(a) * r).toFixed(1)}`;
      }).join(' ');
      shapes.push(`<polygon points="${points}" fill="${pick()}" fill-opacity="${opacity}"/>`);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">
<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${palette[0]}"/><stop offset="1" stop-color="${palette[4]}"/></linearGradient></defs>
<rect width="${size}" height="${size}" fill="url(#bg)"/>
${shapes.join('\n')}
</svg>`;
}

/** Renders the artwork as PNG bytes. */
export async function renderLocalArtwork(prompt: string, tokenId: number): Promise<Buffer> {
  return sharp(Buffer.from(localArtworkSvg(prompt, tokenId)))
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
}

export function createLocalImageProvider(): ImageProvider {
  return {
    name: 'local',
    generate: async (request: ImageRequest): Promise<GeneratedImage> => {
      request.signal.throwIfAborted();
      return { bytes: await renderLocalArtwork(request.prompt, request.tokenId) };
    },
  };
}
