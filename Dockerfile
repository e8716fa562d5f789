# syntax=docker/dockerfile:1
# Build stage: a wheel of the project and its dependencies, built once.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY sensors ./sensors
COPY core ./core
COPY alerts ./alerts
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: no compiler, no sources beyond the installed package, not root.
FROM python:3.11-slim-bookworm
RUN useradd --system --create-home --uid 10001 riverwatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER riverwatch
WORKDIR /home/riverwatch
ENV RIVERWATCH_HOST=0.0.0.0 \
    RIVERWATCH_PORT=8000 \
    RIVERWATCH_ENV=production \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
ENTRYPOINT ["riverwatch"]
CMD ["serve"]
