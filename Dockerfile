# audio-worker: build with Swift on Debian 12, run on slim Debian 12 with only the shared libraries it links.
#
#   docker build -t pmoves/audio-worker .
#   docker run -p 8078:8078 -v audio-data:/data -e MINIO_ENDPOINT=minio:9000 ... pmoves/audio-worker
#
# The runtime listens on 0.0.0.0:8078 (ffmpeg-whisper's port) and keeps its queue under /data.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        pkg-config libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libsqlite3-dev \
        libcurl4-openssl-dev libmicrohttpd-dev libnats-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product audio-worker --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/audio-worker" /out/audio-worker

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libavformat59 libavcodec59 libavutil57 libswresample4 libsqlite3-0 libcurl4 libmicrohttpd12 libnats3.4 libxml2 \
        ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --create-home audio-worker
COPY --from=build /out/audio-worker /usr/local/bin/audio-worker
COPY config /etc/audio-worker
USER audio-worker
WORKDIR /data
ENV AUDIO_WORKER_LISTEN=0.0.0.0:8078 \
    AUDIO_WORKER_DATA=/data
EXPOSE 8078
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:8078/healthz || exit 1
ENTRYPOINT ["audio-worker"]
CMD ["serve", "--config", "/etc/audio-worker/audio-worker.toml"]
