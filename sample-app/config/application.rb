# frozen_string_literal: true

require_relative "boot"

require "rails"
# Only the frameworks this app uses: no Active Storage, Action Mailer,
# Action Mailbox, Action Text, Action Cable, Active Job or test framework.
require "active_model/railtie"
require "active_record/railtie"
require "action_controller/railtie"
require "action_view/railtie"
require "sprockets/railtie"

Bundler.require(*Rails.groups)

module SampleApp
  class Application < Rails::Application
    config.load_defaults 6.1

    config.time_zone = "UTC"
    config.generators.system_tests = nil
  end
end
