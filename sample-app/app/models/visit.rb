# frozen_string_literal: true

class Visit < ApplicationRecord
end
