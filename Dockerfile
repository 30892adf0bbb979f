# The production image: web (gunicorn), worker and beat all run from it.
FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv && useradd --create-home opus
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN OPUS_ENV=production SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build \
    ALLOWED_HOSTS=build EMAIL_PROVIDER=smtp STATIC_ROOT=/app/staticfiles \
    .venv/bin/python manage.py collectstatic --no-input
USER opus
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["gunicorn", "opus.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--control-socket", "/tmp/gunicorn.ctl"]
