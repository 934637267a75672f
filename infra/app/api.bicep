// The Function App on the Flex Consumption plan (FC1), Node 22, and its app settings. It runs as a user-assigned
// identity and reaches storage, Service Bus, Key Vault, Application Insights and ARM with it: no keys anywhere.
// App settings: one for EVERY setting the code reads (shared/config/settings.ts `settingNames`), except the few
// local-only ones listed in test/infra/consistency.test.ts; that test fails when one is missing.

param name string
param location string = resourceGroup().location
param tags object = {}
param planName string

@description('Name of the Function App\'s user-assigned identity (in this resource group).')
param identityName string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param serviceBusNamespaceName string
param keyVaultName string
param webhookSecretName string
param webhookSecretPreviousName string

@description('Also accept the previous webhook secret while a rotation is under way.')
param webhookSecretRotationInProgress bool = false

@description('Resource group of Image Builder templates and staging managed images.')
param imageBuilderResourceGroupName string

@description('Resource id of the user-assigned identity Image Builder builds run as.')
param imageBuilderIdentityId string

@description('URL of the catalog blob the app reads (a container of its storage account).')
param catalogBlobUrl string

@description('Endpoint of the Event Grid topic the app publishes its events to.')
param eventGridTopicEndpoint string

param pruneDryRun bool = false

@description('Subscriptions whose VMs and scale sets may run the images (USAGE_SUBSCRIPTION_IDS).')
@minLength(1)
param usageSubscriptionIds string[]

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with this identity (the app has no system-assigned identity).
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Versionless Key Vault references: a new secret version is picked up without a redeployment.
var webhookSecretReference = '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${webhookSecretName}/)'
var webhookSecretPreviousReference = '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${webhookSecretPreviousName}/)'

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Functions host: storage and telemetry with the app's identity.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'

    // Service Bus triggers and senders: identity-based connection named ServiceBusConnection.
    ServiceBusConnection__fullyQualifiedNamespace: split(split(serviceBus.properties.serviceBusEndpoint, '/')[2], ':')[0]
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identity.properties.clientId

    // The pipeline's own settings (shared/config/settings.ts).
    AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
    AZURE_CLIENT_ID: identity.properties.clientId
    ARM_MAX_READS_PER_SECOND: '20'
    ARM_MAX_WRITES_PER_SECOND: '8'
    CATALOG_BLOB_URL: catalogBlobUrl
    CATALOG_MAX_AGE_IN_SECONDS: '30'
    EVENT_GRID_TOPIC_ENDPOINT: eventGridTopicEndpoint
    WEBHOOK_SECRET: webhookSecretReference
    WEBHOOK_SECRET_PREVIOUS: webhookSecretRotationInProgress ? webhookSecretPreviousReference : ''
    WEBHOOK_MAX_BODY_IN_BYTES: '1048576'
    IMAGE_BUILDER_RESOURCE_GROUP: imageBuilderResourceGroupName
    IMAGE_BUILDER_IDENTITY_ID: imageBuilderIdentityId
    NIGHTLY_SCHEDULE: '0 0 * * * *'
    REPLICATION_MONITOR_SCHEDULE: '0 */2 * * * *'
    PRUNE_SCHEDULE: '0 30 3 * * *'
    PRUNE_DRY_RUN: pruneDryRun ? 'true' : 'false'
    PRUNE_TIME_BUDGET_IN_SECONDS: '480'
    REPLICATION_MAX_RETRIES: '3'
    REPLICATION_TIMEOUT_IN_MINUTES: '720'
    FAILED_BUILD_RETENTION_IN_HOURS: '72'
    BUILD_WATCH_INITIAL_DELAY_IN_SECONDS: '60'
    BUILD_WATCH_MAX_DELAY_IN_SECONDS: '600'
    BUILD_REQUEUE_DELAY_IN_SECONDS: '300'
    DASHBOARD_REFRESH_IN_SECONDS: '30'
    USAGE_SUBSCRIPTION_IDS: join(usageSubscriptionIds, ',')
    // Rollout health checks call public addresses only; list a VNet subnet here to reach an internal endpoint.
    HEALTH_CHECK_ALLOWED_NETWORKS: ''
  }
}

// Deployments (azd, az functionapp deployment) use Entra ID; basic publishing credentials stay off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
