# QLP on Azure: the deployment strategy's architecture (resource group, AKS,
# PostgreSQL Flexible Server, Azure Cache for Redis, Storage Account, Log
# Analytics, Container Registry). Not applied or validated by QLP's CI; see
# deploy/README.md.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}
