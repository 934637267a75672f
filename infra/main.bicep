// image-pipeline on Azure: `azd up` provisions this (subscription scope) and deploys the Function App.
// Two resource groups: the pipeline's, and one for Image Builder templates (the app's IMAGE_BUILDER_RESOURCE_GROUP).
// Roles: app/rbac.bicep. Facts, sources and decisions: infra/README.md.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds the resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group of the pipeline. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Resource group of Image Builder templates and staging managed images. Empty: rg-<environmentName>-imagebuilder.')
param imageBuilderResourceGroupName string = ''

@description('Name of the Compute Gallery. Empty: gal<token>.')
param galleryName string = ''

@description('Other principals allowed to publish the catalog (e.g. the CI identity of the example workflow): [{ "principalId": "<object id>", "principalType": "User|Group|ServicePrincipal" }].')
param catalogPublishers catalogPublisher[] = []

@secure()
@description('Webhook secret for X-Hub-Signature-256. Empty (recommended): the postprovision hook creates one in Key Vault if there is none.')
param webhookSecret string = ''

@description('Object id of whoever deploys (azd fills AZURE_PRINCIPAL_ID): gets Key Vault Secrets Officer on the vault for the webhook secret, and may publish the catalog.')
param deployerPrincipalId string = ''

@description('User or ServicePrincipal (azd fills AZURE_PRINCIPAL_TYPE); empty lets ARM look it up.')
@allowed(['User', 'ServicePrincipal', ''])
param deployerPrincipalType string = ''

@description('Also accept the previous webhook secret (Key Vault secret webhook-secret-previous) while a rotation is under way.')
param webhookSecretRotationInProgress bool = false

@secure()
@description('HTTPS endpoint subscribed to the pipeline\'s events (CloudEvents 1.0 webhook; it must answer the CloudEvents validation handshake). Empty: the topic has no subscription yet (add any Event Grid subscription later).')
param eventsWebhookUrl string = ''

@description('When true, the prune timer only logs what it would delete (PRUNE_DRY_RUN).')
param pruneDryRun bool = false

@description('Subscriptions whose VMs and scale sets may run the images: usage is read there (Resource Graph) and the app gets the fleet reader role on each. Empty: this subscription.')
param usageSubscriptionIds string[] = []

@description('Most instances the Function App scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Principals given Reader on the gallery (sharing by RBAC): [{ "principalId": "<object id>", "principalType": "User|Group|ServicePrincipal" }].')
param galleryReaders galleryReader[] = []

@description('Publish the gallery to the community (public to every Azure subscription). Off by default.')
param communityGalleryEnabled bool = false

@description('Community gallery: the publisher\'s website.')
param communityGalleryPublisherUri string = ''

@description('Community gallery: the publisher\'s contact e-mail address.')
param communityGalleryPublisherContact string = ''

@description('Community gallery: the end-user license agreement.')
param communityGalleryEula string = ''

@description('Community gallery: prefix of the public gallery name.')
param communityGalleryPublicNamePrefix string = ''

type catalogPublisher = {
  @description('Object id of the user, group or service principal.')
  principalId: string
  principalType: ('User' | 'Group' | 'ServicePrincipal')
}

type galleryReader = {
  @description('Object id of the user, group or service principal.')
  principalId: string
  principalType: ('User' | 'Group' | 'ServicePrincipal')
}

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
// The catalog the app reads (CATALOG_BLOB_URL), published by `image-pipeline catalog publish`.
var catalogContainerName = 'catalog'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

resource imageBuilderRg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(imageBuilderResourceGroupName) ? imageBuilderResourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}-imagebuilder'
  location: location
  tags: tags
}

module appIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'app-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module builderIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'image-builder-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}imagebuilder-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    containerNames: [
      deploymentContainerName
      catalogContainerName
    ]
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'core/security/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    webhookSecret: webhookSecret
  }
}

module gallery 'core/compute/gallery.bicep' = {
  name: 'gallery'
  scope: rg
  params: {
    name: !empty(galleryName) ? galleryName : '${abbrs.computeGalleries}${resourceToken}'
    location: location
    tags: tags
    communityGalleryEnabled: communityGalleryEnabled
    communityGalleryPublisherUri: communityGalleryPublisherUri
    communityGalleryPublisherContact: communityGalleryPublisherContact
    communityGalleryEula: communityGalleryEula
    communityGalleryPublicNamePrefix: communityGalleryPublicNamePrefix
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}${resourceToken}'
    location: location
    tags: tags
    eventsWebhookUrl: eventsWebhookUrl
  }
}

// The app starts as soon as it exists: its roles (Key Vault references, Service Bus, storage) come first.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    location: location
    tags: tags
    planName: '${abbrs.webServerFarms}${resourceToken}'
    identityName: appIdentity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    webhookSecretName: keyVault.outputs.webhookSecretName
    webhookSecretPreviousName: keyVault.outputs.webhookSecretPreviousName
    webhookSecretRotationInProgress: webhookSecretRotationInProgress
    imageBuilderResourceGroupName: imageBuilderRg.name
    imageBuilderIdentityId: builderIdentity.outputs.id
    catalogBlobUrl: '${storage.outputs.blobEndpoint}${catalogContainerName}/images.yaml'
    eventGridTopicEndpoint: eventGrid.outputs.endpoint
    pruneDryRun: pruneDryRun
    usageSubscriptionIds: fleetSubscriptionIds
    maximumInstanceCount: maximumInstanceCount
  }
}

// Where the fleet that runs the images lives: usage is read, and read access granted, there.
var fleetSubscriptionIds = empty(usageSubscriptionIds) ? [subscription().subscriptionId] : usageSubscriptionIds

// Deployed at subscription scope, where deployment names are shared by every environment of the subscription and
// bound to the region of their first run: the token keeps this environment's name its own.
module rbac 'app/rbac.bicep' = {
  name: 'rbac-${resourceToken}'
  params: {
    resourceGroupName: rg.name
    imageBuilderResourceGroupName: imageBuilderRg.name
    appIdentityName: appIdentity.outputs.name
    builderIdentityName: builderIdentity.outputs.name
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    galleryName: gallery.outputs.name
    eventGridTopicName: eventGrid.outputs.name
    galleryReaders: galleryReaders
    fleetSubscriptionIds: fleetSubscriptionIds
    catalogContainerName: catalogContainerName
    catalogPublishers: concat(
      empty(deployerPrincipalId)
        ? []
        : [{ principalId: deployerPrincipalId, principalType: empty(deployerPrincipalType) ? 'User' : deployerPrincipalType }],
      catalogPublishers
    )
    roleNameSuffix: '${environmentName}-${resourceToken}'
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_ID string = api.outputs.id
output SERVICE_API_NAME string = api.outputs.name
output WEBHOOK_URL string = 'https://${api.outputs.defaultHostName}/api/builds'
output DASHBOARD_URL string = 'https://${api.outputs.defaultHostName}/api/dashboard'
output FUNCTION_APP_IDENTITY_CLIENT_ID string = appIdentity.outputs.clientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output GALLERY_NAME string = gallery.outputs.name
output GALLERY_RESOURCE_GROUP string = rg.name
output IMAGE_BUILDER_RESOURCE_GROUP string = imageBuilderRg.name
output IMAGE_BUILDER_IDENTITY_ID string = builderIdentity.outputs.id
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output EVENT_GRID_TOPIC_NAME string = eventGrid.outputs.name
output EVENT_GRID_TOPIC_ENDPOINT string = eventGrid.outputs.endpoint
output CATALOG_BLOB_URL string = '${storage.outputs.blobEndpoint}${catalogContainerName}/images.yaml'
