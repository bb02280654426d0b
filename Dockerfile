# The trading bot's container image. Build and run (offline: a paper replay of the bundled sample data):
#
#   docker build -t trading-bot .
#   docker run --rm trading-bot
#
# Live or paper trading with a config file, PostgreSQL and Prometheus: deploy/compose.yaml (deploy/README.md).

# -- build: install the package and its dependencies into a virtual environment ---------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY trading_bot ./trading_bot
COPY strategies ./strategies
COPY exchanges ./exchanges
COPY risk ./risk
# the postgres extra (asyncpg) so the same image runs with a PostgreSQL journal
RUN /opt/venv/bin/pip install ".[postgres]"

# -- runtime: the virtual environment, runbot.py and the sample data, run as a non-root user -------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRADING_BOT__BOT__DATA_DIR=/data
RUN groupadd --system --gid 10001 tradingbot \
    && useradd --system --uid 10001 --gid tradingbot --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin tradingbot \
    && install -d -m 0700 -o tradingbot -g tradingbot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY runbot.py config.example.json ./
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY trading_bot/sample_data ./sample_data
# the journal and state files (bot.data_dir); a named volume keeps them across container restarts
VOLUME ["/data"]
USER tradingbot:tradingbot
# the monitor server (monitor.enabled, port 8787); it binds 127.0.0.1 unless monitor.host says otherwise
EXPOSE 8787
# /health answers 200 when live and ready, 503 otherwise (and nothing while the monitor is off: unhealthy)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8787/health', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["docker-entrypoint.sh"]
# a paper replay of 11 minutes of real Binance BTC/USDT quotes and trades: no network, no keys, exit 0
CMD ["--strategy", "grid", "--exchange", "binance", "--symbol", "BTC/USDT", \
     "--replay", "/app/sample_data/binance_BTCUSDT_quotes_2024-08-08.csv.gz", \
     "--replay", "/app/sample_data/binance_BTCUSDT_trades_2024-08-08.csv.gz", \
     "--quantity", "0.001", "--take-profit", "0.02", "--max-orders", "10", "--wait-time", "35"]
