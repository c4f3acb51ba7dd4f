# The stream worker and the sink, for docker-compose.yml. Dependencies are pinned by
# constraints.txt, the same lock CI installs from.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PRIVTRAIL_HOME=/var/lib/privtrail
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY privtrail ./privtrail
COPY streams ./streams
COPY sinks ./sinks
COPY schemas ./schemas
COPY queries ./queries
RUN pip install --no-cache-dir -c constraints.txt -e '.[server]' \
    && useradd --system --uid 10001 --home-dir /var/lib/privtrail privtrail \
    && mkdir -p /var/lib/privtrail && chown privtrail /var/lib/privtrail

USER privtrail
ENTRYPOINT ["privtrail"]
CMD ["--help"]
