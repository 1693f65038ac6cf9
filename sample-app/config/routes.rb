# frozen_string_literal: true

Rails.application.routes.draw do
  root "pages#index"

  get "up", to: "health#up"
  get "health/db", to: "health#db"
  get "health/redis", to: "health#redis"
  get "version", to: "health#version"
  get "slow", to: "health#slow"
end
