FROM python:3.11-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends make libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md Makefile ./
COPY features features
COPY training training
COPY service service
COPY cli cli
RUN make install PYTHON=python
ENV CREDIT_RISK_DATA_DIR=/data \
    OMP_NUM_THREADS=1
VOLUME /data
EXPOSE 8000
CMD ["make", "run", "PYTHON=python", "HOST=0.0.0.0"]
