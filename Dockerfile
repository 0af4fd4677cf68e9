# syntax=docker/dockerfile:1
# sProx container image: `deno compile` in the official Deno image, then only the binary on
# a distroless base that runs as a non-root user.
#
#   docker build -t sprox:local .
#   docker run --rm -p 8080:8080 \
#     --mount "type=bind,src=$(pwd)/config,dst=/config,readonly" sprox:local

# ---- builder: compile dist/sprox with the `sprox` permission set baked in ----
FROM denoland/deno:2.9.6 AS builder
# The permission set's relative entries (./config, ./var, ./.env) are resolved against this
# directory at compile time; the final stage runs from the same path so they stay true.
WORKDIR /app
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY src/ ./src/
COPY scripts/compile.ts ./scripts/compile.ts
RUN deno task compile \
    && mkdir -p /app/var/acme \
    && /app/dist/sprox --version

# ---- runtime: distroless "cc" (glibc and libgcc, all a Deno binary links against) ----
FROM gcr.io/distroless/cc-debian12:nonroot
# /app is the working directory the permission set names: /app/var (ACME cache, writable),
# /app/.env (optional, mount read-only). Configuration lives in /config (mount read-only).
WORKDIR /app
COPY --from=builder /app/dist/sprox /sprox
COPY --from=builder --chown=nonroot:nonroot /app/var /app/var
COPY config/routes.yaml /config/routes.yaml
# The default configuration; `-e SPROX_CONFIG=...` or `--config ...` arguments override it.
ENV SPROX_CONFIG=/config/routes.yaml
USER nonroot:nonroot
EXPOSE 8080
# Without --url, the probe asks /health on the configuration's first listener (SPROX_CONFIG,
# or --config in a derived image): it follows the configured port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/sprox", "healthcheck", "--timeout-ms", "3000"]
ENTRYPOINT ["/sprox"]
CMD ["serve"]
