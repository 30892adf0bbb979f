# The production image: web (gunicorn), worker and beat all run from it.
FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# Pango and a font: WeasyPrint draws the invoice PDFs with them
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 \
    libpangoft2-1.0-0 fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv && useradd --create-home opus
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
# collectstatic loads the production settings, which refuse unsafe values: give it
# stand-ins that connect to nothing (the key is thrown away with this layer).
RUN OPUS_ENV=production \
    SECRET_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=postgres://build@localhost/build ALLOWED_HOSTS=build \
    EMAIL_PROVIDER=smtp SMTP_HOST=build OPUS_PAYMENT_GATEWAY=build-only \
    STATIC_ROOT=/app/staticfiles .venv/bin/python manage.py collectstatic --no-input
USER opus
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["gunicorn", "opus.wsgi", "--config", "opus/gunicorn.conf.py"]
