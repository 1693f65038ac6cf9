# frozen_string_literal: true

# Puma runs in the foreground under systemd: no daemonize, no pidfile,
# no state file. It only listens on loopback; nginx proxies to it.
max_threads = Integer(ENV.fetch("RAILS_MAX_THREADS", 5))
min_threads = Integer(ENV.fetch("RAILS_MIN_THREADS", max_threads))
threads min_threads, max_threads

port = Integer(ENV.fetch("PORT", 3000))
bind "tcp://127.0.0.1:#{port}"

environment ENV.fetch("RAILS_ENV", "development")

# Single mode (no workers) keeps memory small on a VPS.
workers Integer(ENV.fetch("WEB_CONCURRENCY", 0))
