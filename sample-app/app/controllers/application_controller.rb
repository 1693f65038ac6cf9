# frozen_string_literal: true

class ApplicationController < ActionController::Base
  private

  # Capistrano-style REVISION file written by berth at deploy time.
  def release_revision
    path = Rails.root.join("REVISION")
    path.file? ? path.read.strip : "unknown"
  end
end
