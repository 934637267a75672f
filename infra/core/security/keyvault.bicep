// Key Vault in RBAC mode (no access policies) holding the webhook secret. The Function App reads it through a
// Key Vault reference with Key Vault Secrets User (app/rbac.bicep). The secret itself is created by the
// postprovision hook (infra/hooks/webhook-secret.mjs) when none is given, so no secret value passes through a
// deployment parameter or a file.

param name string
param location string = resourceGroup().location
param tags object = {}

@secure()
@description('Value of the webhook secret. Empty: the secret is left as it is (the postprovision hook creates it when missing).')
param webhookSecret string = ''

// Names the app settings reference (see app/api.bicep); the previous secret only exists during a rotation.
var webhookSecretName = 'webhook-secret'
var webhookSecretPreviousName = 'webhook-secret-previous'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Purge protection cannot be turned off again once on; enable it by hand for production vaults.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webhookSecret)) {
  parent: vault
  name: webhookSecretName
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
output webhookSecretName string = webhookSecretName
output webhookSecretPreviousName string = webhookSecretPreviousName
