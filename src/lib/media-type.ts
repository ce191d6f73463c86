// The media type of image bytes, read from their signature (magic bytes), never from a URL or a header: Replicate's
// flux-schnell returns WebP by default, and a provider may change formats without notice.

/** The image media types the pipeline stores (a subset of content_blobs' CONTENT_MEDIA_TYPES in the schema). */
export type ImageMediaType = 'image/png' | 'image/jpeg' | 'image/webp';

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const startsWith = (bytes: Uint8Array, prefix: readonly number[], offset = 0) =>
  bytes.length >= offset + prefix.length && prefix.every((byte, i) => bytes[offset + i] === byte);

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** image/png, image/jpeg or image/webp, or undefined for anything else. */
export function sniffImageMediaType(bytes: Uint8Array): ImageMediaType | undefined {
  if (startsWith(bytes, PNG)) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  return undefined;
}

/** The file extension of a media type (s0-token-<id>.<ext>). */
export function extensionOf(mediaType: ImageMediaType): 'png' | 'jpg' | 'webp' {
  return mediaType === 'image/png' ? 'png' : mediaType === 'image/jpeg' ? 'jpg' : 'webp';
}
