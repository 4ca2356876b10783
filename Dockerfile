# syntax=docker/dockerfile:1
# trivy-lookout operator image: a supported Node LTS, production dependencies only, non-root,
# fine with a read-only root filesystem. Scans run in separate Jobs with the Trivy image; the config
# audit runs in the operator with a pinned Trivy binary built here (its checks are embedded, so
# air-gapped clusters audit with no download). Trivy needs a writable /tmp (the chart mounts one).

ARG NODE_VERSION=24
ARG GO_VERSION=1.26
# Keep in step with TRIVY_VERSION in scripts/setup-tools.sh (what the tests run).
ARG TRIVY_VERSION=v0.74.0

FROM golang:${GO_VERSION}-bookworm AS trivy
ARG TRIVY_VERSION
# jsonv2 is required by this Trivy release; the version without "v", as Trivy's releases set it.
RUN GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOBIN=/out go install -trimpath \
      -ldflags "-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${TRIVY_VERSION#v}" \
      "github.com/aquasecurity/trivy/cmd/trivy@${TRIVY_VERSION}" \
  && /out/trivy --version

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
COPY --from=trivy --chown=root:root /out/trivy /usr/local/bin/trivy
# The numeric user lets Kubernetes verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPERATOR_METRICS_BIND_ADDRESS || ':8080').split(':').pop() + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--enable-source-maps", "dist/main.js"]
