# syntax=docker/dockerfile:1.7
#
# segserve's image: one image runs `serve` (the default command) and `worker` (`docker run IMAGE worker`).
# Models are never baked in: mount a model repository at /app/models, or sync one from a bucket at start
# (SEGSERVE_MODELS_SYNC); with neither, the first start provisions the Apache-2.0 MediaPipe person model from
# its npm package. Data (embedded database, blobs, spool) goes to /app/data unless PostgreSQL and S3 are given.
#
# The trainer image (`docker build --target trainer -t segserve-trainer .`) runs `segserve train` with the
# reference trainer (training/) on Debian's PyTorch: `docker run segserve-trainer train unet ...`. It is a stage
# of its own so the serving image stays without Python and PyTorch (which would triple its size); the serving
# image is the last stage, what a build without --target gives.
#
# test/deploy/image.test.ts builds from a clean clone with exactly the RUN steps of the build stage below, in
# order, with the ARG defaults, from the files .dockerignore lets through, then lays out the serving stage's
# COPY lines and starts ENTRYPOINT + CMD as the USER, as PID 1, to ready; it lays out the trainer stage's COPY
# lines too and trains a tiny model with them as its USER, where the machine has the packages the trainer's RUN
# installs. It fails when a step here differs from what it ran.
#
# CUDA variant (NVIDIA GPUs, models with `execution_provider: cuda`): build with
#   --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12 --build-arg RUNTIME_IMAGE=<Node 20 + CUDA 12 + cuDNN 9 image>
# and run with the GPU given to the container (`docker run --gpus all`, or an nvidia.com/gpu limit).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# skip: onnxruntime-node's install script would download its CUDA provider on Linux (the CPU one ships in the
# package); cuda12 fetches it, for the CUDA variant. Given on the command line, it wins over the project's .npmrc.
ARG ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY . .
# npm ci installs from the lockfile and runs `prepare`, which is `npm run build` (TypeScript, then the web UI).
# The cache mount keeps npm's download cache between builds, so a source change does not download again.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --onnxruntime-node-install=${ONNXRUNTIME_NODE_INSTALL}
RUN npm prune --omit=dev --no-audit --no-fund
# The two folders the server writes, created here so the final stage can hand them to its user.
RUN mkdir -p data models

# The trainer: Debian's python3-torch and python3-torchvision (CPU; PyPI's wheels are not used), on the build
# stage's own base, so the native modules of node_modules (onnxruntime-node checks the exported model, sharp
# reads images) run where they were installed.
FROM ${NODE_IMAGE} AS trainer
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3-torch python3-torchvision \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# All root's: the trainer writes its work and the model it exports under /tmp (or --out), never into /app.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/training ./training
USER 1000:1000
# `segserve train` finds training/ beside dist/ and Debian's /usr/bin/python3 by itself.
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["train", "--help"]

# The serving image: the last stage, so the default target.
FROM ${RUNTIME_IMAGE} AS serve
WORKDIR /app
# Code and dependencies stay root's: the server cannot change them. Only data/ and models/ are its own.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build --chown=1000:1000 /app/data ./data
COPY --from=build --chown=1000:1000 /app/models ./models
# Numeric, so Kubernetes' runAsNonRoot can verify it (a user name cannot be checked without the image's passwd).
USER 1000:1000
EXPOSE 8080 9091
# The readiness route: 503 while models load or after SIGTERM. `worker` is checked on its own port in compose.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 CMD ["node", "dist/cli/healthcheck.js"]
# Exec form: node is PID 1 and receives SIGTERM itself; segserve's handler stops taking requests, lets those in
# flight finish (up to SEGSERVE_SHUTDOWN_TIMEOUT, 25 s by default) and exits 0. A shell in between would not
# forward the signal. Node reaps no zombies, and segserve starts no child processes (workers are threads).
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
