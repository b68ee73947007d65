# smsc in a container: SMPP on 2775, HTTP control API and metrics on 8080, the SQLite store in /data.
#   docker build -t smsc .
#   docker run --rm -p 127.0.0.1:2775:2775 -p 127.0.0.1:8080:8080 -v smsc-data:/data smsc
# The control API has no authentication: publish its port on the host's loopback only, as above (README, "HTTP
# control API"). It answers requests made to an IP address or localhost; another container that calls it by a name
# (Prometheus scraping smsc:8080) needs that name allowed: add --http-allowed-host smsc to the command below.
# Your own config: mount it and give the whole command, the listen addresses included (a command replaces CMD):
#   docker run --rm -p 127.0.0.1:2775:2775 -p 127.0.0.1:8080:8080 -v smsc-data:/data \
#     -v "$PWD/my.yaml:/etc/smsc/my.yaml:ro" smsc serve -c /etc/smsc/my.yaml --host 0.0.0.0 --http-host 0.0.0.0 \
#     --log-format json
# /etc/smsc/example.yaml in the image documents every option. With other ports in the config, publish those
# (-p) instead, and for an HTTP port other than 8080 set SMSC_HEALTH_URL
# (-e SMSC_HEALTH_URL=http://127.0.0.1:PORT/api/health) for the health check.
# Python 3.11: smsc's server path runs 11-14 % more instructions per message on 3.12 and 3.13 (bench/README.md,
# "Which Python").
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY smsc ./smsc
RUN pip install --no-cache-dir '.[fast]' && rm -rf /src
COPY config/example.yaml /etc/smsc/example.yaml
ENV SMSC_HEALTH_URL=http://127.0.0.1:8080/api/health

# Run unprivileged; the store file lives in the /data volume (the working directory).
RUN useradd --system --home /data smsc && mkdir -p /data && chown smsc /data
USER smsc
WORKDIR /data
VOLUME /data
EXPOSE 2775 8080

# Healthy while the control API answers /api/health with 200 (503 while the store stalls or is found damaged;
# an error or a timeout exits non-zero too). Without the HTTP API (--no-http, http.enabled: false) the check can
# only fail: run such a container with --no-healthcheck. A stop answers what the ESMEs are owed and unbinds them
# (up to 5 s), and waits up to 30 s for a stalled store: give `docker stop -t 40` for that case (10 s by default).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(os.environ['SMSC_HEALTH_URL'], timeout=2).status != 200)"]
# The bundled default config listens on 127.0.0.1; in a container both listeners must face outwards.
ENTRYPOINT ["smsc"]
CMD ["serve", "--host", "0.0.0.0", "--http-host", "0.0.0.0", "--log-format", "json"]
