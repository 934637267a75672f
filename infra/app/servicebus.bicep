// Service Bus namespace and every queue the pipeline uses. The queues come from the ONE shared definition,
// shared/config/queues.json (also read by the code and the local emulator), so lock duration, delivery count, TTL
// and duplicate detection are the same locally and in Azure by construction. Its property names and ISO 8601
// durations are ARM's, so each maps straight onto Microsoft.ServiceBus/namespaces/queues.

param name string
param location string = resourceGroup().location
param tags object = {}

var queueConfig = loadJsonContent('../../shared/config/queues.json')

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Entra ID only: no SAS keys, no connection strings.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queue in queueConfig.queues: {
    parent: namespace
    name: queue.name
    properties: {
      lockDuration: queue.properties.lockDuration
      maxDeliveryCount: queue.properties.maxDeliveryCount
      defaultMessageTimeToLive: queue.properties.defaultMessageTimeToLive
      requiresDuplicateDetection: queue.properties.requiresDuplicateDetection
      duplicateDetectionHistoryTimeWindow: queue.properties.duplicateDetectionHistoryTimeWindow
      deadLetteringOnMessageExpiration: queue.properties.deadLetteringOnMessageExpiration
      requiresSession: queue.properties.requiresSession
      maxSizeInMegabytes: queue.properties.maxSizeInMegabytes
    }
  }
]

output name string = namespace.name
output id string = namespace.id
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (another suffix in sovereign clouds).
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '/')[2], ':')[0]
output queueNames array = [for queue in queueConfig.queues: queue.name]
