# The yujing image: `yujing worker` and the console (`yujing run`). Built from the repo with pip only:
#   docker build -t yujing .
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 YUJING_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY graph ./graph
COPY rules ./rules
COPY learning ./learning
COPY sinks ./sinks
COPY engine ./engine
COPY config ./config
COPY deploy ./deploy
RUN pip install . && useradd --create-home --uid 10001 yujing && mkdir -p /data && chown yujing /data
USER yujing
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["yujing"]
CMD ["--help"]
