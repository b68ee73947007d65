# smsc in a container: SMPP on 2775, HTTP control API and metrics on 8080, the SQLite store in /data.
#   docker build -t smsc .
#   docker run --rm -p 2775:2775 -p 8080:8080 -v smsc-data:/data smsc
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY smsc ./smsc
RUN pip install --no-cache-dir '.[fast]' && rm -rf /src

# Run unprivileged; the store file lives in the /data volume (the working directory).
RUN useradd --system --home /data smsc && mkdir -p /data && chown smsc /data
USER smsc
WORKDIR /data
VOLUME /data
EXPOSE 2775 8080

# The bundled default config listens on 127.0.0.1; in a container both listeners must face outwards.
ENTRYPOINT ["smsc"]
CMD ["serve", "--host", "0.0.0.0", "--http-host", "0.0.0.0", "--log-format", "json"]
