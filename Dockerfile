# Builds the casedesk binary and runs it as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY migration ./migration
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin casedesk

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/casedesk --create-home casedesk
COPY --from=build /src/target/release/casedesk /usr/local/bin/casedesk
USER casedesk
WORKDIR /var/lib/casedesk
ENV CASEDESK_BIND=0.0.0.0:8080 \
    CASEDESK_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["casedesk"]
CMD ["serve"]
