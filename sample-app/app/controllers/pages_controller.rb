# frozen_string_literal: true

class PagesController < ApplicationController
  def index
    @revision = release_revision
    @visits = record_visit
  end

  private

  # The page still renders if the database is unavailable.
  def record_visit
    Visit.create!(path: request.path)
    Visit.count
  rescue ActiveRecord::ActiveRecordError => e
    logger.warn("visit not recorded: #{e.class}: #{e.message}")
    nil
  end
end
