# The tern image (both `tern cloud` and `tern edge`): docker build -t tern:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY types types
COPY broker broker
COPY twin twin
COPY mappers mappers
COPY cloud-sync cloud-sync
COPY schemas schemas
COPY cli cli
COPY scripts scripts
# npm ci builds dist/ (prepare: scripts/bundle.ts)
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
USER 65532
ENTRYPOINT ["node", "dist/cli/tern.js"]
