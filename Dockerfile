# The platform image for docker-compose.yml (hosts with a registry).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git bubblewrap util-linux ca-certificates npm \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma/package.json prisma/
COPY runner-template/package.json runner-template/
COPY gitserver/package.json gitserver/
COPY reconciler/package.json reconciler/
COPY platform/package.json platform/
COPY site/package.json site/
COPY prisma/schema.prisma prisma/prisma.config.ts prisma/
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY . .
RUN npm run build:site && npm run pack:runtime -w runner-template
ENV PATH=/app/node_modules/.bin:$PATH
EXPOSE 8080
CMD ["node", "platform/src/main.ts"]
