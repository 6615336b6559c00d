# The tern image, for `tern edge` and `tern cloud` (deploy/cloud/), multi-arch:
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t tern:0.1.0 .
# The package is built and packed once on the build machine's own platform, then installed on each
# target platform from the tarball as a gateway installs it (npm install -g --omit=dev): the native
# LevelDB and serial-port bindings ship prebuilt for amd64, arm64 and armhf, so nothing compiles.
# Optional packages (docs/raspberry-pi.md): --build-arg TERN_EXTRAS="node-opcua@^2.182.2 ..." adds
# OPC-UA or Bluetooth LE; TERN_EXTRAS="" leaves out tern cloud's Kubernetes client (an edge image).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && mkdir /pkg && npm pack --ignore-scripts --pack-destination /pkg

FROM ${NODE_IMAGE}
ARG TERN_EXTRAS="@kubernetes/client-node@^1.4.0"
COPY --from=build /pkg/ /tmp/pkg/
RUN npm install -g --omit=dev --no-audit --no-fund /tmp/pkg/tern-edge-*.tgz ${TERN_EXTRAS} \
 && rm -rf /tmp/pkg /root/.npm \
 && sh "$(npm root -g)/tern-edge/deploy/container/layout.sh" /usr/local /
# The non-root user the layout gave /var/lib/tern to; the data directory is a volume, so it
# outlives the container and is writable by that user.
USER 65532:65532
WORKDIR /var/lib/tern
VOLUME /var/lib/tern
# MQTT as Mosquitto: 1883 plain, 8883 TLS, 9001 WebSocket (those the config enables); CloudHub 10000
EXPOSE 1883 8883 9001 10000
ENV NODE_ENV=production
STOPSIGNAL SIGTERM
ENTRYPOINT ["tern"]
CMD ["edge", "--config", "/etc/tern/edge.yaml"]
