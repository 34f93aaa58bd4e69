# serin's controller image: a static binary (musl, rustls) on distroless/static, running as a non-root user.
#
#   docker build -t ghcr.io/serin-dev/serin:0.1.0 .        # or: podman build / buildah bud, same arguments
#
# The build stage compiles the built-in plugins (wasm32-wasip2, by build.rs) and the host for
# x86_64-unknown-linux-musl. Nothing in the final image but the binary, CA certificates and /etc/passwd's
# nonroot user (uid 65532), which install.yaml and the Helm chart run as, with a read-only root filesystem.
FROM docker.io/library/rust:1-bookworm AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip2 x86_64-unknown-linux-musl \
    && cargo build --release --locked --target x86_64-unknown-linux-musl --bin serin \
    && cp target/x86_64-unknown-linux-musl/release/serin /serin

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /serin /usr/local/bin/serin
USER 65532:65532
# Precompiled plugins are cached here (install.yaml mounts an emptyDir, the root filesystem being read-only).
ENV SERIN_CACHE_DIR=/cache
ENTRYPOINT ["/usr/local/bin/serin"]
CMD ["controller"]
