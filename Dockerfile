# The yujing image: `yujing worker` and the console (`yujing run`). Built from the repo with pip only:
#   docker build -t yujing .
# Three stages: `sources` holds what the image installs; `native` compiles the hot paths from
# them with mypyc (streams/native.py; gcc stays in that stage); the image installs the same
# sources and takes only the compiled folder. The engine checks that folder's manifest against
# the installed sources at start and runs plain Python if they differ, so a mismatched build can
# slow the image down but never change what it does.
FROM python:3.11-slim AS sources
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY graph ./graph
COPY rules ./rules
COPY learning ./learning
COPY sinks ./sinks
COPY engine ./engine
COPY deploy ./deploy

FROM sources AS native
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN pip install ".[native]" && yujing native build --out /native

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 YUJING_DATA_DIR=/data \
    YUJING_NATIVE_DIR=/opt/yujing/native
WORKDIR /app
COPY --from=sources /src ./
RUN pip install . && useradd --create-home --uid 10001 yujing && mkdir -p /data && chown yujing /data
COPY --from=native /native /opt/yujing/native
USER yujing
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["yujing"]
CMD ["--help"]
