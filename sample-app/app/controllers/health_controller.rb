# frozen_string_literal: true

require "redis"

# Plain-text endpoints for berth's deploy health checks.
class HealthController < ApplicationController
  # 200 once the app has booted; 500 if the release contains a BROKEN file
  # (how the tests build a release that must fail its health check).
  def up
    if Rails.root.join("BROKEN").exist?
      render plain: "broken\n", status: :internal_server_error
    else
      render plain: "ok\n"
    end
  end

  # 200 if Postgres answers and the migrated `visits` table exists, else 503.
  def db
    one = ActiveRecord::Base.connection.select_value("SELECT 1")
    render plain: "ok select1=#{one} visits=#{Visit.count}\n"
  rescue StandardError => e
    unavailable("db", e)
  end

  # 200 if Redis at REDIS_URL (password in the URL) answers PING and INCR, else 503.
  def redis
    client = Redis.new(url: ENV.fetch("REDIS_URL", "redis://127.0.0.1:6379/0"),
                       connect_timeout: 2, read_timeout: 2, write_timeout: 2)
    pong = client.ping
    hits = client.incr("sampleapp:health:hits")
    render plain: "ok #{pong} hits=#{hits}\n"
  rescue StandardError => e
    unavailable("redis", e)
  ensure
    client&.close
  end

  # Content of the REVISION file written by berth at deploy, or "unknown".
  def version
    render plain: "#{release_revision}\n"
  end

  # A request that takes a while (seconds=N, at most 30): the e2e suite keeps
  # some in flight while traffic moves to another release. Answers with the
  # revision that served it.
  def slow
    seconds = params.fetch(:seconds, "3").to_f.clamp(0.0, 30.0)
    sleep(seconds)
    render plain: "slept #{seconds} #{release_revision}\n"
  end

  private

  def unavailable(what, error)
    logger.error("health/#{what} failed: #{error.class}: #{error.message}")
    render plain: "#{what} error: #{error.class}\n", status: :service_unavailable
  end
end
