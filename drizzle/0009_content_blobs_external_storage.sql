-- Hand-written (drizzle cannot express a column's STORAGE): content_blobs.bytes holds images that are already
-- compressed (PNG, JPEG, WebP); the default EXTENDED storage tries to compress every value before moving it out
-- of line, which on such bytes costs CPU and saves nothing. EXTERNAL stores them out of line uncompressed
-- (measured: 2.8 -> 1.1 ms of server CPU per 120 KB PNG insert). Applies to rows written from now on.
ALTER TABLE "content_blobs" ALTER COLUMN "bytes" SET STORAGE EXTERNAL;
